"""MCP tools through the SDK's own client: in-process, over stdio (`matchgraph mcp`) and over
streamable HTTP at /mcp of a live `matchgraph serve`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import ROOT, SD, TROCR, clean_env, free_ports, running_servers, serve_command
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from api.mcp import ArtifactOut, ComparisonOut, SearchOut, SimilarOut, create_mcp_server, one_line
from matchgraph import Engine
from matchgraph.core.results import ArtifactDetail, Comparison, SearchResponse, SimilarResponse

TOOLS = {"search", "find_tools", "compare", "similar", "artifact", "record_selection"}
TABLE_ROWS = ["Type", "Rank", "Adoption", "Quality", "Ecosystem", "Match Graph", "Pricing", "Capabilities",
              "Times Matched"]
HANDWRITING = "read the handwriting in old scanned letters"
TOKEN = "s3cret-test-token"


def run(coro):
    return asyncio.run(coro)


def data(result) -> dict:
    """The structured content of a successful tool result (and its text twin agrees)."""
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def error_text(result) -> str:
    assert result.is_error, f"expected an MCP tool error, got {result.structured_content}"
    text = " ".join(c.text for c in result.content)
    assert "Traceback" not in text and 'File "' not in text
    return text


def selects_for(home: Path, artifact_id: str) -> int:
    """Select events stored for an artifact, read back through a fresh Engine on the same home."""
    engine = Engine(home)
    try:
        return engine.state.graph.selects.get(artifact_id, 0)
    finally:
        engine.close()


async def exercise(session: ClientSession) -> None:
    """The checks every transport must pass (read tools, errors, a refused selection)."""
    listed = await session.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description) > 80, tool.name  # says what it does and when to use it
        assert tool.output_schema and tool.output_schema.get("type") == "object"
    assert "ctx" not in tools["record_selection"].input_schema["properties"]
    assert set(tools["search"].input_schema["properties"]) >= {"query", "k", "kind", "pricing", "task", "detail"}

    found = data(await session.call_tool("search", {"query": HANDWRITING, "k": 5, "record": False}))
    ids = [r["artifact_id"] for r in found["results"]]
    assert TROCR in ids[:3], ids
    first = found["results"][0]
    assert {"artifact_id", "name", "rank", "score", "matched_capability_title", "explanation"} <= set(first)
    assert "signals" not in first and "\n" not in first["explanation"]

    cmp = data(await session.call_tool("compare", {"a": TROCR, "b": SD}))
    assert [row["feature"] for row in cmp["table"]] == TABLE_ROWS
    assert all(row["a"] and row["b"] for row in cmp["table"])
    assert "scores higher" in cmp["verdict"] or "tie" in cmp["verdict"].lower()
    assert cmp["a"]["id"] == TROCR and cmp["b"]["id"] == SD

    sim = data(await session.call_tool("similar", {"artifact": TROCR, "k": 3}))
    assert sim["capabilities"] and all(c["artifact_id"] != TROCR for c in sim["capabilities"])
    assert data(await session.call_tool("similar", {"text": "transcribe handwritten pages"}))["capabilities"]

    art = data(await session.call_tool("artifact", {"id": TROCR}))
    assert art["artifact"]["id"] == TROCR
    assert art["scores"]["times_matched"] >= 1 and art["scores"]["explanations"]["adoption"]
    assert all(set(c) == {"id", "title"} for c in art["artifact"]["capabilities"])

    # bad parameters and unknown artifacts are MCP tool errors with a clear message
    assert error_text(await session.call_tool("search", {"query": HANDWRITING, "k": 0})).startswith(
        "search: bad argument: k: ")
    assert "kind: Input should be 'model'" in error_text(
        await session.call_tool("search", {"query": "ocr", "kind": "spaceship"}))
    assert "query: query must not be empty" in error_text(await session.call_tool("search", {"query": "  "}))
    missing = error_text(await session.call_tool("artifact", {"id": "no-such/artifact-xyz"}))
    assert missing.startswith("artifact: no artifact named 'no-such/artifact-xyz'")
    assert "same artifact" in error_text(await session.call_tool("compare", {"a": TROCR, "b": TROCR}))
    assert "text: give a text or an artifact" in error_text(await session.call_tool("similar", {}))
    assert error_text(await session.call_tool("compare", {"a": TROCR})) == "compare: bad argument: b: Field required"
    ambiguous = error_text(await session.call_tool("compare", {"a": "trocr", "b": SD}))
    assert "ambiguous" in ambiguous and TROCR in ambiguous

    # a selection without the token is refused
    refused = error_text(await session.call_tool("record_selection", {"query": HANDWRITING, "artifact": TROCR}))
    assert "token" in refused


# -- in-process (fast checks of the shapes) -----------------------------------------------------
@asynccontextmanager
async def in_process(engine: Engine):
    from mcp import Client

    async with Client(create_mcp_server(engine)) as client:
        yield client


def test_output_schemas_come_from_the_api_models():
    for derived, model in ((SearchOut, SearchResponse), (ComparisonOut, Comparison),
                           (ArtifactOut, ArtifactDetail), (SimilarOut, SimilarResponse)):
        assert set(derived.model_fields) == set(model.model_fields)
        for name, info in model.model_fields.items():
            if info.description:
                assert derived.model_fields[name].description.startswith(info.description)
    # a full API document validates against the derived (compact-tolerant) model
    results = SearchOut.model_json_schema()["$defs"]["SearchResult"]
    assert "signals" in results["properties"] and "signals" not in results["required"]
    assert "artifact_id" in results["required"]


def test_one_line_reason():
    assert one_line("Matched because X (cosine 0.5). dense +0.6, bm25 +0.1") == "Matched because X (cosine 0.5)."
    assert one_line("short") == "short"


def test_compact_and_full_detail(demo_engine):
    async def go():
        async with in_process(demo_engine) as client:
            compact = data(await client.call_tool("compare", {"a": TROCR, "b": SD}))
            full = data(await client.call_tool("compare", {"a": TROCR, "b": SD, "detail": True}))
            assert Comparison.model_validate(full)  # the whole API document
            assert full["table"] == compact["table"] and full["verdict"] == compact["verdict"]
            assert "description" in full["a"]["capabilities"][0]
            # what sets each capability apart stays in the compact comparison, the long description not
            assert set(compact["a"]["capabilities"][0]) == {"id", "title", "unique", "vs_alternatives"}
            assert len(json.dumps(compact)) < len(json.dumps(full)) * 0.75

            found = data(await client.call_tool("search", {"query": HANDWRITING, "record": False,
                                                           "detail": True}))
            assert SearchResponse.model_validate(found).results[0].signals
            art = data(await client.call_tool("artifact", {"id": TROCR, "detail": True}))
            assert ArtifactDetail.model_validate(art).artifact["capabilities"][0]["description"]
            sim = data(await client.call_tool("similar", {"artifact": TROCR, "capability": "htr"}))
            assert sim["query"] == f"{TROCR}#htr"
            bad_cap = error_text(await client.call_tool("similar", {"artifact": TROCR, "capability": "nope"}))
            assert "no capability 'nope'" in bad_cap

    run(go())


def test_record_selection_in_process(demo_home):
    engine = Engine(demo_home, {"token": TOKEN})
    before = selects_for(demo_home, TROCR)

    async def go():
        async with in_process(engine) as client:
            wrong = error_text(await client.call_tool("record_selection",
                                                      {"query": HANDWRITING, "artifact": TROCR, "token": "nope"}))
            assert "token is not valid" in wrong
            ok = data(await client.call_tool("record_selection",
                                             {"query": "mcp unit query", "artifact": "trocr-base-handwritten",
                                              "token": TOKEN}))
            assert ok["artifact_id"] == TROCR and ok["new"] == 1

    run(go())
    engine.close()
    assert selects_for(demo_home, TROCR) == before + 1


# -- stdio: `matchgraph mcp --home H` -----------------------------------------------------------
def stdio_params(home: Path, token: str | None = None) -> StdioServerParameters:
    env = {"PYTHONUNBUFFERED": "1"}
    for key in ("HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VIRTUAL_ENV"):
        if key in os.environ:
            env[key] = os.environ[key]
    if token:
        env["MATCHGRAPH_TOKEN"] = token
    return StdioServerParameters(command=sys.executable, args=["-m", "matchgraph.cli", "mcp", "--home", str(home)],
                                 env=env, cwd=str(ROOT))


@pytest.mark.slow
def test_stdio_tools(demo_home):
    async def go():
        async with stdio_client(stdio_params(demo_home)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await exercise(session)

    run(go())


@pytest.mark.slow
def test_stdio_record_selection_with_token(demo_home):
    before = selects_for(demo_home, TROCR)

    async def go():
        async with stdio_client(stdio_params(demo_home, TOKEN)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                refused = error_text(await session.call_tool("record_selection",
                                                             {"query": HANDWRITING, "artifact": TROCR}))
                assert "token" in refused
                ok = data(await session.call_tool("record_selection",
                                                  {"query": HANDWRITING, "artifact": TROCR, "token": TOKEN}))
                assert ok == {"query": HANDWRITING, "artifact_id": TROCR, "capability_id": None, "received": 1,
                              "new": 1, "duplicates": 0}

    run(go())
    assert selects_for(demo_home, TROCR) == before + 1


# -- streamable HTTP: /mcp of a live `matchgraph serve` -----------------------------------------
@pytest.fixture
def live_server(demo_home):
    port = free_ports(1)[0]
    with running_servers([serve_command(demo_home, port)], [f"http://127.0.0.1:{port}"],
                         clean_env(MATCHGRAPH_TOKEN=TOKEN), demo_home.parent) as urls:
        yield urls[0]


@pytest.mark.slow
def test_streamable_http_at_mcp(live_server, demo_home):
    url = f"{live_server}/mcp"
    before = selects_for(demo_home, TROCR)

    async def go():
        async with streamable_http_client(url) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await exercise(session)
                wrong = error_text(await session.call_tool("record_selection",
                                                           {"query": HANDWRITING, "artifact": TROCR, "token": "x"}))
                assert "token is not valid" in wrong
        # the write token as an HTTP Authorization: Bearer header
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    ok = data(await session.call_tool("record_selection",
                                                      {"query": "http selection query", "artifact": TROCR}))
                    assert ok["artifact_id"] == TROCR and ok["new"] == 1

    run(go())
    assert selects_for(demo_home, TROCR) == before + 1



@pytest.mark.slow
def test_wrong_tokens_over_mcp_http_count_per_client(demo_home):
    """record_selection over /mcp is held by the same wrong-token limit as the HTTP API: past
    server.token_failures_per_minute every token, the right one too, is refused for the minute."""
    port = free_ports(1)[0]
    env = clean_env(MATCHGRAPH_TOKEN=TOKEN, MATCHGRAPH_SERVER__TOKEN_FAILURES_PER_MINUTE="2")
    with running_servers([serve_command(demo_home, port)], [f"http://127.0.0.1:{port}"], env,
                         demo_home.parent) as urls:
        async def go():
            async with streamable_http_client(f"{urls[0]}/mcp") as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for _ in range(2):
                        wrong = error_text(await session.call_tool(
                            "record_selection", {"query": HANDWRITING, "artifact": TROCR, "token": "x"}))
                        assert "token is not valid" in wrong
                    blocked = error_text(await session.call_tool(
                        "record_selection", {"query": HANDWRITING, "artifact": TROCR, "token": TOKEN}))
                    assert "too many wrong tokens" in blocked

        before = selects_for(demo_home, TROCR)
        run(go())
        assert selects_for(demo_home, TROCR) == before  # nothing recorded

@pytest.mark.slow
def test_http_rejects_foreign_host_header(live_server):
    """DNS-rebinding protection on a loopback server: a foreign Host header is refused."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    request = urllib.request.Request(f"{live_server}/mcp", data=body, method="POST",
                                     headers={"Host": "evil.example:80", "Content-Type": "application/json",
                                              "Accept": "application/json, text/event-stream"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code in (400, 403, 421)
