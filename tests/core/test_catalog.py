"""Catalog loading and validation: formats, every problem with file/line/field, duplicates."""

import json

import pytest
from conftest import CATALOG

from matchgraph.core.catalog import load_catalog
from matchgraph.core.errors import ValidationFailed


def _artifact(i, **extra):
    return {"id": f"org/model-{i}", "name": f"model-{i}", "kind": "model", "pricing": "free",
            "capabilities": [{"id": "c1", "title": "Does a thing", "description": "It does it."}], **extra}


def test_demo_catalog_loads_and_is_big_enough():
    artifacts = load_catalog([CATALOG])
    assert len(artifacts) >= 40
    assert len({a.task for a in artifacts}) >= 10
    assert all(3 <= len(a.capabilities) <= 10 for a in artifacts if a.kind == "model")
    ids = {a.id: a for a in artifacts}
    assert len(ids["microsoft/trocr-base-handwritten"].capabilities) == 9
    assert len(ids["stabilityai/stable-diffusion"].capabilities) == 4
    assert {"free", "freemium", "paid"} <= {a.pricing for a in artifacts}


def test_json_yaml_and_jsonl_load(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps(_artifact(1)) + "\n\n")
    (tmp_path / "b.json").write_text(json.dumps([_artifact(2)]))
    (tmp_path / "c.yaml").write_text("- id: org/model-3\n  name: model-3\n  capabilities:\n"
                                     "    - {id: c1, title: Reads text}\n")
    assert sorted(a.id for a in load_catalog([tmp_path])) == ["org/model-1", "org/model-2", "org/model-3"]


def test_jsonl_lines_validate_as_the_same_records_in_json(tmp_path):
    """JSONL lines that pass the limits are parsed and validated by pydantic in one step
    (catalog._valid_line); what comes out equals the checked path's (the same records as JSON),
    and a line over a limit still gets its problem reported."""
    records = [_artifact(1, signals={"downloads": 12, "scores": {"a": [1.5, 2e-7]}, "note": "caf\u00e9 \u2014 ok"},
                         tags=["x", "\u6f22\u5b57"], description="line\nbreak \"quoted\""),
               _artifact(2, url="https://example.org/m", capabilities=[
                   {"id": "c1", "title": "T", "tool": {"server": "npx s", "name": "t",
                                                       "input_schema": {"type": "object"}}}])]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(records))
    assert load_catalog([tmp_path / "a.jsonl"]) == load_catalog([tmp_path / "b.json"])
    long = _artifact(3, description="x" * 50)
    (tmp_path / "c.jsonl").write_text(json.dumps(long) + "\n")
    with pytest.raises(ValidationFailed) as caught:
        load_catalog([tmp_path / "c.jsonl"], {"text_length": 40})
    assert "c.jsonl:1: description: at most 40 characters" in "\n".join(caught.value.problems)
    with pytest.raises(ValidationFailed) as caught:
        load_catalog([tmp_path / "b.json", tmp_path / "a.jsonl"], {"capabilities": 0})
    assert "a.jsonl:2: capabilities: at most 0 per artifact" in "\n".join(caught.value.problems)


def test_every_bad_record_is_reported_with_file_line_and_field(tmp_path):
    bad_kind = _artifact(2, kind="robot")
    no_caps = _artifact(3)
    no_caps["capabilities"] = []
    lines = [json.dumps(_artifact(1)), json.dumps(bad_kind), "{not json", json.dumps(no_caps)]
    path = tmp_path / "cat.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationFailed) as err:
        load_catalog([path])
    problems = err.value.problems
    assert any(p.startswith(f"{path}:2: kind:") for p in problems)
    assert any(p.startswith(f"{path}:3: not valid JSONL") for p in problems)
    assert any(p.startswith(f"{path}:4: capabilities:") for p in problems)
    assert len(problems) == 3


def test_duplicate_ids_are_errors(tmp_path):
    dup_cap = _artifact(2)
    dup_cap["capabilities"] = dup_cap["capabilities"] * 2
    path = tmp_path / "cat.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [_artifact(1), _artifact(1), dup_cap]))
    with pytest.raises(ValidationFailed) as err:
        load_catalog([path])
    text = str(err.value)
    assert "duplicate artifact id 'org/model-1'" in text and f"{path}:2: id:" in text
    assert f"{path}:3: capabilities: duplicate capability id 'c1'" in text


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ValidationFailed, match="no such file"):
        load_catalog([tmp_path / "nope.jsonl"])


def test_nan_and_infinity_are_not_numbers(tmp_path):
    line = json.dumps(_artifact(1)).replace('"pricing": "free"', '"pricing": "free", "signals": {"downloads": NaN}')
    (tmp_path / "a.jsonl").write_text(line + "\n")
    (tmp_path / "b.json").write_text("[" + json.dumps(_artifact(2)).replace('"kind"', '"signals": {"likes": Infinity}, "kind"') + "]")
    with pytest.raises(ValidationFailed) as err:
        load_catalog([tmp_path])
    text = str(err.value)
    assert f"{tmp_path / 'a.jsonl'}:1: not valid JSONL: NaN" in text
    assert f"{tmp_path / 'b.json'}:1: not valid JSON: Infinity" in text
