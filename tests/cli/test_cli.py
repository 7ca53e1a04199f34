"""End to end through the `matchgraph` command line: in-process (Typer's runner, sharing the
loaded model) for most steps, and once through the installed console script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CATALOG, DEMO_LOG, SD, TROCR
from typer.testing import CliRunner

from matchgraph.cli import app

BIN = Path(sys.executable).parent / "matchgraph"


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(home, *args, ok=True):
    result = CliRunner().invoke(app, [*args, "--home", str(home)])
    out = Result(result.exit_code, result.stdout, result.stderr)
    if ok:
        assert out.returncode == 0, (out.stderr, result.exception)
    return out


@pytest.mark.slow
def test_installed_console_script_prints_one_json_document(indexed_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHGRAPH_")}
    proc = subprocess.run([str(BIN), "search", "stable difusion", "--json", "--no-record", "--home",
                           str(indexed_home)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["artifact_id"] == SD


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    home = tmp_path / "home"
    first = run(home, "index", "--catalog", str(CATALOG))
    assert "embedded" in first.stdout
    assert "embedded 0 texts" in run(home, "index").stdout  # unchanged catalog: all from cache

    search = run(home, "search", "read the handwriting in old scanned letters", "--json", "--no-record")
    doc = json.loads(search.stdout)  # exactly one JSON document on stdout
    assert doc["results"][0]["artifact_id"] == TROCR
    assert {"artifact_id", "name", "rank", "score", "matched_capability", "explanation"} <= set(doc["results"][0])
    typo = json.loads(run(home, "search", "stable difusion", "--json", "--no-record").stdout)
    assert typo["results"][0]["artifact_id"] == SD

    assert "360 new" in run(home, "ingest", "--events", str(DEMO_LOG)).stdout
    assert "0 new" in run(home, "ingest", "--events", str(DEMO_LOG)).stdout

    compare = run(home, "compare", TROCR, "stable-diffusion")
    for row in ("Type", "Rank", "Adoption", "Quality", "Ecosystem", "Match Graph", "Pricing",
                "Capabilities", "Times Matched", "Verdict"):
        assert row in compare.stdout
    as_json = json.loads(run(home, "compare", TROCR, "stable-diffusion", "--json").stdout)
    assert len(as_json["table"]) == 9 and as_json["verdict"]

    stats = json.loads(run(home, "stats", "--json").stdout)
    assert stats["events"] == 360 and stats["artifacts"] >= 40

    out = tmp_path / "graph.gexf"
    assert "nodes" in run(home, "export", "--format", "gexf", "-o", str(out)).stdout and out.exists()

    config = json.loads(run(home, "config", "--json").stdout)
    assert config["search"]["record_top"] == 5


def test_cli_errors_name_the_place_and_change_nothing(tmp_path, indexed_home):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(indexed_home, home)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "name": "a", "capabilities": [{"id": "c", "title": "t"}]}\n{"id": 5}\n')
    proc = run(home, "index", "--catalog", str(bad), ok=False)
    assert proc.returncode == 2 and f"{bad}:2: id" in proc.stderr.replace("\n", "")
    still = json.loads(run(home, "search", "stable difusion", "--json", "--no-record").stdout)
    assert still["results"][0]["artifact_id"] == SD
    ambiguous = run(home, "compare", "trocr", SD, ok=False)
    assert ambiguous.returncode == 2 and "ambiguous" in ambiguous.stderr


def test_bad_config_is_refused_with_the_key_and_the_file(tmp_path, indexed_home):
    """A nonsense setting (wrong type, out of range, misspelt key) stops the command with the file
    and key named, instead of a division by zero or a silent default later."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(indexed_home, home)
    toml = home / "matchgraph.toml"
    toml.write_text('[search]\nadapter_temperature = 0\ninput_markers = "###"\nw_bm52 = 1.0\n')
    proc = run(home, "search", "stable difusion", "--no-record", ok=False)
    assert proc.returncode == 2, proc.stderr
    for expected in (str(toml), "search.adapter_temperature: must be above 0",
                     "search.input_markers: expected list", "search.w_bm52: unknown key"):
        assert expected in proc.stderr.replace("\n", " "), (expected, proc.stderr)
    toml.unlink()
    assert run(home, "search", "stable difusion", "--no-record").returncode == 0


def test_eval_table_shows_coverage_of_requests_with_several_answers(tmp_path, indexed_home):
    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text("\n".join(json.dumps(x) for x in [
        {"query": "read the handwriting in old scanned letters", "artifact_id": TROCR},
        {"query": "read handwritten letters, then draw a picture of them",
         "artifact_ids": [TROCR, SD]}]) + "\n")
    out = run(indexed_home, "eval", "--queries", str(labeled)).stdout
    head, overall = out.splitlines()[:2]
    assert "cov@10" in head.split() and "multi" in head.split()
    cells = dict(zip(head.split(), overall.split()))
    assert cells["multi"] == "1"  # one request with several answers; coverage is over it alone
    assert 0.0 <= float(cells["cov@10"]) <= 1.0


def test_read_commands_on_a_home_without_an_index_say_so_and_create_nothing(tmp_path):
    missing = tmp_path / "not-there"
    for args in (["search", "read letters"], ["compare", TROCR, SD], ["similar", "read letters"],
                 ["stats"], ["export", "--format", "json", "-o", str(tmp_path / "g.json")]):
        out = run(missing, *args, "--json", ok=False)
        assert out.returncode == 3, (args, out.stderr)  # 3: not ready
        assert json.loads(out.stdout)["error"]["code"] == "no_index"
        assert "no folder at" in out.stderr and not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run(empty, "search", "read letters", ok=False)
    assert out.returncode == 3 and "no index at" in out.stderr and list(empty.iterdir()) == []


def test_usage_errors_exit_2_and_with_json_print_one_json_object():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHGRAPH_")}
    proc = subprocess.run([str(BIN), "search", "read letters", "--kind", "robot", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "--kind" in proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert (error["code"], error["where"]) == ("usage", "--kind") and "robot" in error["message"]


def test_every_option_has_help_and_closed_sets_list_their_choices():
    import typer.main

    group = typer.main.get_command(app)
    commands = []
    for name, command in group.commands.items():
        commands += list(command.commands.items()) if hasattr(command, "commands") else [(name, command)]
    for name, command in commands:
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{name} {param.opts[0]} has no help"
    search = group.commands["search"]
    text = CliRunner().invoke(app, ["search", "--help"], env={"COLUMNS": "200"}).stdout
    assert "model|tool|api|dataset|app" in text and "free|freemium|paid|unknown" in text
    assert "graphml|gexf|json|csv" in CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).stdout
    assert {p.name for p in search.params} >= {"kind", "pricing", "task"}


def test_events_purge_errors_are_usage_errors_naming_the_option(tmp_path):
    """A bad --before or no criterion at all: exit 2 with the typed error's code and place."""
    out = run(tmp_path / "home", "events", "purge", "--before", "yesterday", "--json", ok=False)
    error = json.loads(out.stdout)["error"]
    assert out.returncode == 2 and (error["code"], error["where"]) == ("invalid", "--before"), out.stderr
    assert "'yesterday' is not an ISO-8601 date or time" in error["message"]
    out = run(tmp_path / "home", "events", "purge", "--json", ok=False)
    assert out.returncode == 2 and json.loads(out.stdout)["error"]["code"] == "invalid", out.stderr
