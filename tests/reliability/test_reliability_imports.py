"""Reliability, second attack (issue 27) on `matchgraph import`: files an import may not read
($ref to devices, FIFOs, paths outside the document's folder, symlinks out), YAML alias bombs,
deep or huge model cards, and limits named at the source rather than at our generated record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matchgraph.cli import app as cli
from matchgraph.importers import ImportFailed, import_catalog

OPERATION = {"get": {"operationId": "listPets", "summary": "List pets", "responses": {"200": {"description": "ok"}}}}


def spec(tmp_path: Path, paths: dict | None = None, name: str = "api/spec.json", **extra) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"openapi": "3.0.3", "info": {"title": "Pets", "version": "1"},
                                "paths": paths or {"/pets": OPERATION}, **extra}))
    return path


def refused(fmt: str, sources: list[Path], tmp_path: Path, **kwargs) -> list[str]:
    out = tmp_path / "out.jsonl"
    with pytest.raises(ImportFailed) as err:
        import_catalog(fmt, [str(s) for s in sources], out, **kwargs)
    assert not out.exists()
    return err.value.problems


def with_ref(tmp_path: Path, target: str) -> Path:
    """A spec whose request body schema is a $ref to `target`."""
    body = {"content": {"application/json": {"schema": {"$ref": target}}}}
    return spec(tmp_path, {"/pets": {"post": {"operationId": "addPet", "requestBody": body,
                                              "responses": {"200": {"description": "ok"}}}}})


# -- item 4: $ref reads any file, of any size ------------------------------------------------------
def test_refs_read_only_regular_files_under_the_documents_folder(tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps({"properties": {"leaked": {"type": "string"}}}))
    inside = tmp_path / "api" / "pet.json"
    inside.parent.mkdir()
    inside.write_text(json.dumps({"properties": {"name": {"type": "string"}}}))
    os.mkfifo(tmp_path / "api" / "fifo.json")
    (tmp_path / "api" / "link.json").symlink_to(outside)
    for target, why in [("/dev/zero", "outside"), (str(outside), "outside"), ("../secret.json", "outside"),
                        ("link.json", "outside"), ("fifo.json", "not a regular file"),
                        ("https://example.com/x.json", "nothing is downloaded")]:
        problems = refused("openapi", [with_ref(tmp_path, target)], tmp_path)
        assert len(problems) == 1 and why in problems[0], (target, problems)
        assert problems[0].startswith(f"{tmp_path / 'api' / 'spec.json'}: paths./pets.post.requestBody")
    out = tmp_path / "ok.jsonl"
    import_catalog("openapi", [str(with_ref(tmp_path, "pet.json"))], out)
    assert json.loads(out.read_text())["capabilities"][0]["inputs"] == ["name"]  # a file beside it is fine


def test_a_ref_over_the_size_limit_is_refused_before_reading(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "matchgraph.toml").write_text("[limits]\nfile_bytes = 5000\n")
    big = tmp_path / "api" / "big.json"
    big.parent.mkdir()
    with big.open("wb") as fh:  # sparse: its size says 3 GB, nothing is written
        fh.truncate(3 * 1024 ** 3)
    problems = refused("openapi", [with_ref(tmp_path, "big.json")], tmp_path, home=home)
    assert problems == [f"{tmp_path / 'api' / 'spec.json'}: paths./pets.post.requestBody.content.application/json"
                        f".schema: $ref 'big.json': {big}: file is {3 * 1024 ** 3} bytes, over limits.file_bytes (5000)"]


def test_a_fifo_named_as_the_source_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert refused("openapi", [fifo], tmp_path) == [f"{fifo}: is a device, FIFO or socket, not a regular file; "
                                                   "an import reads only regular files"]


# -- item 5: OpenAPI YAML alias bomb ---------------------------------------------------------------
def test_an_openapi_alias_bomb_is_refused_at_its_line(tmp_path):
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))
    path = tmp_path / "bomb.yaml"
    path.write_text("openapi: 3.0.3\ninfo: {title: Bomb, version: '1'}\npaths: {}\n" + bomb)
    assert refused("openapi", [path], tmp_path) == [
        f"{path}: line 5: not valid YAML: YAML aliases (*a) are not allowed in an imported document"]
    deep = tmp_path / "deep.json"
    deep.write_text('{"openapi": "3.0.3", "x":\n' + "[" * 5000 + "]" * 5000 + "}")
    assert refused("openapi", [deep], tmp_path) == [
        f"{deep}: line 2: not valid JSON: nested deeper than 100 levels (config limits.source_depth)"]


# -- item 6: hf cards ------------------------------------------------------------------------------
def cards_folder(tmp_path: Path, card: bytes | None = None) -> tuple[Path, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    listing = tmp_path / "models.json"
    listing.write_text(json.dumps([{"id": "org/model", "pipeline_tag": "translation"}]))
    cards = tmp_path / "cards"
    (cards / "org" / "model").mkdir(parents=True)
    if card is not None:
        (cards / "org" / "model" / "README.md").write_bytes(card)
    return listing, cards


def test_deep_front_matter_is_a_located_error_not_a_recursion_error(tmp_path):
    listing, cards = cards_folder(tmp_path, b"---\nlicense: mit\ntags: " + b"[" * 100_000 + b"]" * 100_000
                                  + b"\n---\n# Model\n")
    card = cards / "org" / "model" / "README.md"
    assert refused("hf", [listing], tmp_path, cards=cards) == [
        f"{card}: line 3: front matter is not valid YAML: nested deeper than 100 levels (config limits.source_depth)"]
    listing, cards = cards_folder(tmp_path / "b", b"---\na: &a [x, x]\nb: [*a, *a]\n---\n# Model\n")
    assert "YAML aliases (*a) are not allowed in front matter" in refused("hf", [listing], tmp_path, cards=cards)[0]


def test_a_huge_card_is_refused_by_its_size_before_reading(tmp_path):
    listing, cards = cards_folder(tmp_path)
    card = cards / "org" / "model" / "README.md"
    with card.open("wb") as fh:
        fh.truncate(3 * 1024 ** 3)  # 3 GB, sparse
    assert refused("hf", [listing], tmp_path, cards=cards) == [
        f"{card}: file is {3 * 1024 ** 3} bytes, over limits.file_bytes (1073741824)"]


def test_a_card_symlinked_out_of_the_cards_folder_is_refused(tmp_path):
    listing, cards = cards_folder(tmp_path)
    card = cards / "org" / "model" / "README.md"
    card.symlink_to("/etc/passwd")
    problems = refused("hf", [listing], tmp_path, cards=cards)
    assert problems == [f"{card}: resolves to /etc/passwd, outside {cards.resolve()}: an import reads only files "
                        "under its source's folder"]
    listing.write_text(json.dumps([{"id": "../etc", "pipeline_tag": "translation"}]))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "README.md").write_text("# Not a card\nA file outside the cards folder, reached by `..`.\n")
    assert "outside" in refused("hf", [listing], tmp_path, cards=cards)[0]


# -- item 12: limits named at the source, not at our generated record ------------------------------
def test_limits_name_the_source_not_the_generated_catalog_line(tmp_path):
    many = {f"/op{i}": {"get": {"operationId": f"op{i}", "summary": f"Operation {i}",
                                "responses": {"200": {"description": "ok"}}}} for i in range(1500)}
    big = spec(tmp_path, many, name="big.json")
    assert refused("openapi", [big], tmp_path) == [
        f"{big}: capabilities: at most 1000 per artifact (config limits.capabilities), got 1500"]
    home = tmp_path / "home"
    home.mkdir()
    (home / "matchgraph.toml").write_text("[limits]\nline_bytes = 3000\n")
    some = spec(tmp_path, dict(list(many.items())[:40]), name="some.json")
    problems = refused("openapi", [some], tmp_path, home=home)
    assert len(problems) == 1 and problems[0].startswith(f"{some}: the artifact made from it is ")
    assert problems[0].endswith("bytes as a catalog line, over limits.line_bytes (3000)")
    sections = "".join(f"## Feature {i}\nThis section says what the model does in enough words to count as "
                       f"a capability of its own, number {i}.\n" for i in range(60_000))
    listing, cards = cards_folder(tmp_path / "hf", f"---\nlicense: mit\n---\n{sections}".encode())
    card = cards / "org" / "model" / "README.md"
    assert refused("hf", [listing], tmp_path, cards=cards) == [
        f"{listing}: [0] (card {card}): capabilities: at most 1000 per artifact (config limits.capabilities), "
        "got 60000"]


def test_the_cli_reports_import_refusals_without_a_traceback(tmp_path):
    result = CliRunner().invoke(cli, ["import", "openapi", str(with_ref(tmp_path, "/etc/passwd")),
                                      "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2 and "outside" in result.output and "Traceback" not in result.output
