"""Reliability, second attack (issue 27) on the faces: spoofed client addresses, MCP searches
without a budget, huge artifact names, and output paths over the store or into the home."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from conftest import FIXTURES, SD, TROCR, clean_env, free_ports, running_servers, serve_command
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from typer.testing import CliRunner

from api.mcp import create_mcp_server
from matchgraph import Engine
from matchgraph.cli import app as cli
from matchgraph.core.events import client_key

TOKEN = "faces-token"
NO_FIT = {"search": {"adapter_steps": 0}}
NO_FIT_ENV = {"MATCHGRAPH_SEARCH__ADAPTER_STEPS": "0"}


def tool_text(result) -> str:
    return result.content[0].text if result.content else ""


async def mcp_http_call(url: str, name: str, arguments: dict, headers: dict):
    """One tools/call over streamable HTTP with these request headers."""
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool(name, arguments)


# -- item 1: X-Forwarded-For from loopback picked the client address ------------------------------
@pytest.mark.slow
def test_forwarded_headers_from_loopback_do_not_pick_the_client(demo_home):
    """The attack: through uvicorn on loopback, every request names another address in
    X-Forwarded-For. With server.client_ip_header empty none is trusted: one budget, one count of
    wrong tokens, on the HTTP API and on MCP's search and record_selection alike."""
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    env = clean_env(MATCHGRAPH_TOKEN=TOKEN, **NO_FIT_ENV)
    with running_servers([serve_command(demo_home, port)], [url], env, demo_home.parent):
        spoofed = [{"X-Forwarded-For": f"198.51.100.{i}"} for i in range(1, 40)]
        recorded = [httpx.get(f"{url}/api/search", params={"q": f"spoofed need {i}", "k": 1},
                              headers=spoofed[i]).json()["recorded"] for i in range(12)]
        assert recorded == [True] * 10 + [False] * 2  # server.record_per_minute = 10, for one client
        found = asyncio.run(mcp_http_call(f"{url}/mcp", "search", {"query": "spoofed need over mcp", "k": 1},
                                          spoofed[20]))
        assert json.loads(tool_text(found))["recorded"] is False  # MCP shares the client's budget
        event = {"events": [{"query": "read letters", "artifact_id": TROCR, "kind": "select"}]}
        codes = [httpx.post(f"{url}/api/events", json=event, headers={**spoofed[21 + i],
                                                                     "Authorization": f"Bearer guess-{i}"}
                            ).status_code for i in range(6)]
        assert codes == [403] * 5 + [429]  # server.token_failures_per_minute = 5
        refused = asyncio.run(mcp_http_call(f"{url}/mcp", "record_selection",
                                            {"query": "read letters", "artifact": TROCR, "token": TOKEN},
                                            spoofed[30]))
        assert refused.is_error and "too many wrong tokens" in tool_text(refused)
    engine = Engine(demo_home, overrides=NO_FIT)
    assert engine.store.recorded_searches(client_key("127.0.0.1"), engine.store.versions()[0]["created_at"]) == 10
    assert not any(engine.store.recorded_searches(client_key(h["X-Forwarded-For"]),
                                                  engine.store.versions()[0]["created_at"]) for h in spoofed)
    engine.close()


def test_a_configured_header_is_read_at_the_configured_hop(demo_home):
    from starlette.requests import Request

    from api.guard import ClientGuard

    def request(forwarded: str) -> Request:
        return Request({"type": "http", "headers": [(b"x-forwarded-for", forwarded.encode())],
                        "client": ("10.0.0.9", 5000)})

    server = {"record_per_minute": 10, "token_failures_per_minute": 5, "client_ip_header": "X-Forwarded-For"}
    one, two = ClientGuard(server), ClientGuard({**server, "client_ip_hops": 2})
    forged = request("6.6.6.6, 203.0.113.7, 10.0.0.2")  # the client wrote 6.6.6.6; two proxies appended
    assert one.address(forged) == "10.0.0.2" and two.address(forged) == "203.0.113.7"
    assert two.address(request("10.0.0.2")) == "10.0.0.9"  # fewer entries than proxies: the peer
    assert ClientGuard({**server, "client_ip_header": ""}).address(forged) == "10.0.0.9"


# -- item 2: MCP searches recorded without a budget ----------------------------------------------
def test_mcp_searches_are_budgeted_per_client_across_processes_and_audited(demo_home):
    """200 distinct MCP searches once moved Times Matched by 200. Over stdio (one client, "mcp")
    ten record in a minute; a second server process on the same store gets none of that minute;
    `events audit` lists the client for its many distinct queries."""
    first, second = Engine(demo_home, overrides=NO_FIT), Engine(demo_home, overrides=NO_FIT)
    base = first.state.scores[SD]["times_matched"]

    async def searches(engine: Engine, start: int, count: int) -> list[bool]:
        async with Client(create_mcp_server(engine)) as client:
            return [json.loads(tool_text(await client.call_tool(
                "search", {"query": f"draw picture number {i}", "k": 1})))["recorded"]
                for i in range(start, start + count)]

    assert asyncio.run(searches(first, 0, 14)) == [True] * 10 + [False] * 4
    assert asyncio.run(searches(second, 100, 3)) == [False] * 3  # the store holds the minute's ten
    assert first.state.scores[SD]["times_matched"] - base <= 10
    audit = CliRunner().invoke(cli, ["events", "audit", "--json", "--min-events", "10", "--home", str(demo_home)],
                               env=NO_FIT_ENV)
    assert audit.exit_code == 0, audit.output
    clients = json.loads(audit.stdout)["clients"]
    assert clients[0]["client"] == "mcp" and clients[0]["queries"] == 10
    text = CliRunner().invoke(cli, ["events", "audit", "--min-events", "10", "--home", str(demo_home)],
                              env=NO_FIT_ENV)
    assert "client mcp" in text.output and "10 distinct queries" in text.output
    first.close()
    second.close()


# -- item 3: unbounded artifact names -------------------------------------------------------------
def test_huge_arguments_are_refused_before_any_matching(demo_home):
    engine = Engine(demo_home, overrides={"token": TOKEN, **NO_FIT})
    huge = "x" * 900_000

    async def calls():
        async with Client(create_mcp_server(engine)) as client:
            return [await client.call_tool(name, arguments) for name, arguments in [
                ("artifact", {"id": huge}), ("compare", {"a": TROCR, "b": huge}),
                ("similar", {"artifact": huge}), ("similar", {"text": huge}), ("search", {"query": huge}),
                ("search", {"query": "read letters", "task": huge}),
                ("record_selection", {"query": "read letters", "artifact": TROCR, "tool": huge, "token": TOKEN}),
                ("record_selection", {"query": huge, "artifact": TROCR, "token": TOKEN})]]

    results = asyncio.run(calls())
    assert all(r.is_error for r in results)
    messages = [tool_text(r) for r in results]
    assert messages[0] == "artifact: bad argument: id: at most 300 characters, got 900000"
    assert messages[1] == "compare: bad argument: b: at most 300 characters, got 900000"
    assert "artifact: at most 300 characters" in messages[2]
    assert "text: at most 2000 characters" in messages[3] and "query: at most 2000" in messages[4]
    assert "task: at most 300 characters" in messages[5]
    assert "tool: at most 300 characters" in messages[6] and "query: at most 2000 characters" in messages[7]
    from fastapi.testclient import TestClient

    from api import create_app

    app = create_app(engine=engine, background=False, mcp=False)
    with TestClient(app) as c:
        r = c.get(f"/api/artifacts/{'y' * 5000}")
        assert r.status_code == 422 and "id: at most 300 characters, got 5000" in r.text
        assert c.get("/api/compare", params={"a": "z" * 400, "b": SD}).status_code == 422
        assert c.get(f"/api/artifacts/{TROCR}").status_code == 200
    short = Engine(demo_home, overrides={"limits": {"name_length": 25}, **NO_FIT})
    result = CliRunner().invoke(cli, ["compare", TROCR, SD, "--home", str(demo_home)],
                                env={"MATCHGRAPH_LIMITS__NAME_LENGTH": "25", **NO_FIT_ENV})
    assert result.exit_code == 2 and "a: at most 25 characters, got 32" in result.output
    assert short.resolve("trocr-base-handwritten").id == TROCR  # within the limit, names still resolve
    short.close()
    engine.close()


# -- items 9 and 10: outputs over the store, its WAL, or into the home -----------------------------
def test_import_never_writes_into_the_home(demo_home, tmp_path):
    runner = CliRunner()
    petstore = FIXTURES / "import" / "petstore-expanded-3.0.yaml"
    current = (demo_home / "index" / "CURRENT").read_text().strip()
    target = demo_home / "index" / f"v{int(current):05d}" / "catalog.jsonl"
    before = target.read_bytes()
    for output in (target, demo_home / "new.jsonl"):
        result = runner.invoke(cli, ["import", "openapi", str(petstore), "-o", str(output),
                                     "--home", str(demo_home)])
        assert result.exit_code == 2 and "would write over" in result.output, result.output
    assert target.read_bytes() == before and not (demo_home / "new.jsonl").exists()
    link = tmp_path / "catalog.jsonl"
    link.symlink_to(target)
    result = runner.invoke(cli, ["import", "openapi", str(petstore), "-o", str(link), "--home", str(demo_home)])
    assert result.exit_code == 2 and "would write over" in result.output
    searched = runner.invoke(cli, ["search", "read handwritten letters", "--no-record", "--json",
                                   "--home", str(demo_home)], env=NO_FIT_ENV)
    assert searched.exit_code == 0 and json.loads(searched.stdout)["results"][0]["artifact_id"] == TROCR
    ok = runner.invoke(cli, ["import", "openapi", str(petstore), "-o", str(tmp_path / "out.jsonl"),
                             "--home", str(demo_home)])
    assert ok.exit_code == 0, ok.output


def test_export_never_writes_over_a_store_outside_the_home_or_its_side_files(fresh_home, tmp_path):
    """A writer holds 200 committed events in WAL mode; exporting over the store's -wal, -shm or
    -journal (or the store) is refused and every event stays readable."""
    elsewhere = tmp_path / "x"
    elsewhere.mkdir()
    store = elsewhere / "other.db"
    overrides = {"database_url": f"sqlite:///{store}", **NO_FIT}
    writer = Engine(fresh_home, overrides=overrides)
    writer.add_events([{"query": f"need {i}", "artifact_id": TROCR, "kind": "select"} for i in range(200)])
    runner = CliRunner()
    env = {"MATCHGRAPH_DATABASE_URL": f"sqlite:///{store}", **NO_FIT_ENV}
    for target in ("other.db-wal", "other.db-shm", "other.db-journal", "other.db"):
        result = runner.invoke(cli, ["export", "--format", "json", "-o", str(elsewhere / target),
                                     "--home", str(fresh_home)], env=env)
        assert result.exit_code == 2 and "would write over" in result.output, (target, result.output)
    reader = Engine(fresh_home, overrides=overrides)
    assert reader.store.event_count() == 200 and writer.store.event_count() == 200
    assert runner.invoke(cli, ["export", "--format", "json", "-o", str(elsewhere / "graph.json"),
                               "--home", str(fresh_home)], env=env).exit_code == 0
    reader.close()
    writer.close()
