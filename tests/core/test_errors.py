"""One error, three faces: the same bad input reads the same on the command line (stderr, exit
code 2), in the HTTP API (JSON body and status) and in MCP (a tool error). The engine raises it
once, naming its field as data; each face only renders it, renaming a field where its own name
differs (the API's `q` is the engine's `query`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest
from conftest import SD, TROCR
from fastapi.testclient import TestClient
from mcp import Client
from typer.testing import CliRunner

from api.app import create_app
from api.mcp import create_mcp_server
from matchgraph import Engine
from matchgraph.cli import app as cli

STATUS = {"invalid": 422, "not_found": 404, "ambiguous": 409}
CLI_NAMES = {"text": "TEXT", "artifact": "--artifact", "a": "A", "b": "B", "query": "QUERY"}


@dataclass
class Case:
    """One bad input as each face takes it, and the error every face must report."""

    cli: list[str]
    http: tuple[str, dict]
    tool: tuple[str, dict]
    code: str
    parameter: str
    lines: list[str]  # the problem lines (invalid) or the message
    candidates: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # the API's name for an engine field


TROCRS = [TROCR, "microsoft/trocr-base-printed", "microsoft/trocr-large-handwritten"]
CASES = {
    "both text and artifact": Case(
        ["similar", "read letters", "--artifact", TROCR],
        ("/api/capabilities/similar", {"text": "read letters", "artifact": TROCR}),
        ("similar", {"text": "read letters", "artifact": TROCR}),
        "invalid", "text", ["text: give either `text` or `artifact`, not both"]),
    "capability without artifact": Case(
        ["similar", "read letters", "--capability", "htr"],
        ("/api/capabilities/similar", {"text": "read letters", "capability": "htr"}),
        ("similar", {"text": "read letters", "capability": "htr"}),
        "invalid", "artifact",
        ["artifact: `capability` needs `artifact` (a capability id is only unique within its artifact)"]),
    "the same artifact twice": Case(
        ["compare", TROCR, "trocr-base-handwritten"],
        ("/api/compare", {"a": TROCR, "b": "trocr-base-handwritten"}),
        ("compare", {"a": TROCR, "b": "trocr-base-handwritten"}),
        "invalid", "b", [f"b: 'trocr-base-handwritten' is the same artifact as a ({TROCR})"]),
    "a query without words": Case(
        ["search", "?!", "--no-record"], ("/api/search", {"q": "?!", "record": "false"}),
        ("search", {"query": "?!", "record": False}),
        "invalid", "query", ["query: needs at least one letter or digit"], renamed={"query": "q"}),
    "an unknown artifact": Case(
        ["compare", TROCR, "no-such-model-x"], ("/api/compare", {"a": TROCR, "b": "no-such-model-x"}),
        ("compare", {"a": TROCR, "b": "no-such-model-x"}),
        "not_found", "b", ["no artifact named 'no-such-model-x'"]),
    "an ambiguous name": Case(
        ["compare", "trocr", SD], ("/api/compare", {"a": "trocr", "b": SD}), ("compare", {"a": "trocr", "b": SD}),
        "ambiguous", "a", [f"'trocr' is ambiguous; candidates: {', '.join(TROCRS)}"], candidates=TROCRS),
}


@pytest.fixture(scope="module")
def faces(demo_home_ro):
    engine = Engine(demo_home_ro)
    with TestClient(create_app(engine=engine, background=False, mcp=False), raise_server_exceptions=False) as http:
        yield engine, http


def call_tool(engine: Engine, name: str, arguments: dict):
    async def go():
        async with Client(create_mcp_server(engine)) as client:
            return await client.call_tool(name, arguments)

    return asyncio.run(go())


@pytest.mark.parametrize("name", CASES)
def test_the_same_error_on_every_face(name, faces, demo_home_ro):
    case = CASES[name]
    engine, http = faces
    message = "; ".join(case.lines)

    # command line: exit code 2, one 'error:' report on stderr naming every problem, nothing on stdout
    result = CliRunner().invoke(cli, [*case.cli, "--home", str(demo_home_ro)])
    assert result.exit_code == 2 and not result.stdout, (result.stdout, result.exception)
    stderr = result.stderr.strip()
    assert stderr.startswith("error: ")
    if case.code == "invalid":
        assert "1 problem(s)" in stderr.splitlines()[0]
        assert [line.strip() for line in stderr.splitlines()[1:]] == case.lines
    else:
        assert stderr == f"error: {message}"

    # with --json: the same text on stderr, and one JSON object on stdout naming the code and the
    # option or argument as the command line spells it
    as_json = CliRunner().invoke(cli, [*case.cli, "--json", "--home", str(demo_home_ro)])
    assert as_json.exit_code == 2 and as_json.stderr == result.stderr
    assert json.loads(as_json.stdout) == {"error": {"code": case.code, "message": message,
                                                    "where": CLI_NAMES[case.parameter]}}

    # HTTP API: the status of the code and the whole body pinned
    path, params = case.http
    response = http.get(path, params=params)
    renamed = [line.replace(f"{case.parameter}:", f"{case.renamed[case.parameter]}:", 1)
               if case.parameter in case.renamed else line for line in case.lines]
    assert response.status_code == STATUS[case.code], response.text
    assert response.json() == {
        "error": case.code, "status": STATUS[case.code], "message": "; ".join(renamed),
        "parameter": case.renamed.get(case.parameter, case.parameter),
        "problems": renamed if case.code == "invalid" else [], "candidates": case.candidates}

    # MCP: a tool error headed by the tool, the engine's words after it
    tool, arguments = case.tool
    outcome = call_tool(engine, tool, arguments)
    assert outcome.is_error
    text = " ".join(c.text for c in outcome.content)
    expected = {"invalid": f"{tool}: bad argument: {message}",
                "not_found": f"{tool}: {message} (use the search tool to find artifact ids)",
                "ambiguous": f"{tool}: {message}"}[case.code]
    assert text == expected


def test_pydantic_errors_are_shaped_in_one_place(faces, demo_home_ro, tmp_path):
    """A value pydantic refuses reads 'field: why' on each face: the catalog file line, the API's
    query parameter or body field, the MCP argument."""
    engine, http = faces
    catalog = tmp_path / "bad.jsonl"
    catalog.write_text('{"id": "x/y", "name": "y", "kind": "robot", "capabilities": [{"id": "c"}]}\n')
    result = CliRunner().invoke(cli, ["index", "--catalog", str(catalog), "--home", str(tmp_path / "home")])
    lines = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert result.exit_code == 2
    assert lines == [f"{catalog}:1: kind: Input should be 'model', 'tool', 'api', 'dataset' or 'app'",
                     f"{catalog}:1: capabilities[0].title: Field required"]

    body = http.get("/api/search", params={"q": "ocr", "kind": "robot"}).json()
    assert body["parameter"] == "kind" and body["problems"] == [
        "kind: Input should be 'model', 'tool', 'api', 'dataset' or 'app'"]

    outcome = call_tool(engine, "search", {"query": "ocr", "kind": "robot"})
    assert " ".join(c.text for c in outcome.content) == (
        "search: bad argument: kind: Input should be 'model', 'tool', 'api', 'dataset' or 'app' (got 'robot')")
