"""`matchgraph gateway` end to end: the real console script in front of real servers
(mcp-server-time from PyPI, mcp-server-memory from npm — scripts/mcp-servers.sh installs them —
and the tiny tests/servers/toolbox.py over stdio and streamable HTTP), driven with the official
SDK client over stdio and over streamable HTTP.

What holds: find_tools ranks the servers' tools; call_tool returns the server's result unchanged;
a call of a found tool is recorded as a select of that tool for its need and lifts it for that
need; an unknown, unstartable, crashing or hanging server gives a tool error naming it and the
gateway goes on (restarting the server); tools/list_changed reindexes; the config's secrets
(env values, header values) appear nowhere: catalog, store, results, pages, logs.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import TOOLBOX, clean_env, free_ports
from fastapi.testclient import TestClient
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from api import create_app
from matchgraph.core.catalog import load_catalog
from matchgraph.core.errors import ValidationFailed
from matchgraph.servers.specs import parse_servers

CLI = str(Path(sys.executable).parent / "matchgraph")
ENV_SECRET = "envsecret-8c1d2e7f90ab"
HEADER_SECRET = "hdrsecret-41f0c2d9e6aa"
SECRETS = (ENV_SECRET, HEADER_SECRET)
CHECKED = ("token_status", "reverse_text", "add_numbers")  # toolbox tools with easy arguments
ARGUMENTS = {"token_status": {}, "reverse_text": {"text": "gateway"}, "add_numbers": {"a": 2, "b": 3}}


def gateway_env() -> dict[str, str]:
    # call_timeout 3 s: the hang test waits that long; start_timeout 15 s: the silent server's wait;
    # refresh 1 s: a recorded call reaches the graph quickly
    return clean_env(MATCHGRAPH_GATEWAY__CALL_TIMEOUT="3", MATCHGRAPH_GATEWAY__START_TIMEOUT="15",
                     MATCHGRAPH_GRAPH__REFRESH_SECONDS="1")


def texts(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def found_tools(result: Any) -> list[tuple[str, str]]:
    assert not result.is_error, texts(result)
    return [(r["tool"]["server"], r["tool"]["name"]) for r in result.structured_content["results"]]


@pytest.fixture(scope="module")
def remote_toolbox():
    """toolbox over streamable HTTP, answering only 'Authorization: Bearer HEADER_SECRET'."""
    port = free_ports(1)[0]
    process = subprocess.Popen([sys.executable, str(TOOLBOX), "--http", str(port)],
                               env=clean_env(TOOLBOX_TOKEN=HEADER_SECRET),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def servers_json(tmp_path, remote_toolbox) -> Path:
    config = {"mcpServers": {
        "toolbox": {"command": sys.executable, "args": [str(TOOLBOX)], "env": {"TOOLBOX_TOKEN": ENV_SECRET}},
        "time": {"command": "mcp-server-time"},
        "memory": {"command": "mcp-server-memory"},
        "remote": {"type": "http", "url": remote_toolbox, "headers": {"Authorization": f"Bearer {HEADER_SECRET}"}},
        "broken": {"command": "no-such-mcp-server-here"},
        "noisy": {"command": sys.executable, "args": [str(TOOLBOX), "--garbage", "300"]},
        "silent": {"command": sys.executable, "args": ["-c", "import sys, time; sys.stderr.write('warming up forever'); "
                                                             "sys.stderr.flush(); time.sleep(600)"]},
        "off": {"command": "no-such-either", "disabled": True},
        "itself": {"command": CLI, "args": ["gateway", "--servers", str(tmp_path / "claude_desktop_config.json")]},
    }}
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.mark.slow
def test_config_formats_and_errors(tmp_path):
    specs = parse_servers({"servers": {"a": {"type": "stdio", "command": "x", "args": ["--k", "${HOME}"]},
                                       "b": {"type": "sse", "url": "http://h/sse", "headers": {"X-Key": "${KEY}"}}}})
    assert [(s.name, s.transport) for s in specs] == [("a", "stdio"), ("b", "sse")]
    assert specs[1].public_headers() == {"X-Key": "${KEY}"} and specs[1].secret_names() == ["KEY"]
    vscode = parse_servers({"servers": {"v": {"command": "x", "env": {"K": "${env:GW_KEY}"}}}})[0]
    assert vscode.resolved({"GW_KEY": "value-123"}).env == {"K": "value-123"}
    with pytest.raises(ValidationFailed, match=r"v.env.K: \$\{input:key\} is asked by VS Code"):
        parse_servers({"servers": {"v": {"command": "x", "env": {"K": "${input:key}"}}}})[0].resolved({}, "v")
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {"a": {"args": "x"}, "b": {"url": "ftp://x"}}}')
    done = subprocess.run([CLI, "gateway", "--servers", str(bad), "--home", str(tmp_path / "h")],
                          capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 2
    assert f"{bad}: mcpServers.a.command: a stdio server needs `command`" in done.stderr
    assert "mcpServers.b.url: a remote server needs `url`" in done.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"mcpServers": {\n  "a": }')
    done = subprocess.run([CLI, "gateway", "--servers", str(broken), "--home", str(tmp_path / "h")],
                          capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 2 and f"{broken}:2:8: not valid JSON" in done.stderr


@pytest.mark.slow
def test_gateway_over_stdio(tmp_path, servers_json, model):
    home = tmp_path / "home"
    log = tmp_path / "gateway.log"
    params = StdioServerParameters(command=CLI, args=["gateway", "--servers", str(servers_json), "--home", str(home)],
                                   env=gateway_env())
    direct = StdioServerParameters(command=sys.executable, args=[str(TOOLBOX)])
    shown: list[str] = []  # every text the agent got back
    learned: dict[str, str] = {}

    async def go() -> None:
        with log.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as gateway:
                await gateway.initialize()

                async def call(name: str, arguments: dict) -> Any:
                    result = await gateway.call_tool(name, arguments)
                    shown.append(texts(result) + json.dumps(result.structured_content))
                    return result

                assert {t.name for t in (await gateway.list_tools()).tools} == {"find_tools", "call_tool"}
                tokyo = await call("find_tools", {"need": "what time is it in Tokyo right now", "k": 5})
                assert found_tools(tokyo)[0] == ("time", "get_current_time")
                top = tokyo.structured_content["results"][0]
                assert top["artifact_id"] == "time" and top["tool"]["input_schema"]["required"] == ["timezone"]
                now = await call("call_tool", {"server": "time", "tool": "get_current_time",
                                               "arguments": {"timezone": "Asia/Tokyo"}})
                assert not now.is_error and json.loads(texts(now))["timezone"] == "Asia/Tokyo"

                # the server's result, unchanged
                async with stdio_client(direct) as (r, w), ClientSession(r, w) as toolbox:
                    await toolbox.initialize()
                    straight = await toolbox.call_tool("reverse_text", {"text": "unchanged"})
                through = await call("call_tool", {"server": "toolbox", "tool": "reverse_text",
                                                   "arguments": {"text": "unchanged"}})
                assert through.content == straight.content and through.is_error is straight.is_error is False
                assert texts(await call("call_tool", {"server": "toolbox", "tool": "token_status",
                                                      "arguments": {}})) == "token given"  # the env reached it
                assert texts(await call("call_tool", {"server": "remote", "tool": "token_status",
                                                      "arguments": {}})) == "token given"  # so did the header

                # learn from calls: the found tool that ranked lowest for a vague need, once called, rises
                need = "run the check for me"
                before = [t for s, t in found_tools(await call("find_tools", {"need": need, "k": 30}))
                          if s == "toolbox"]
                chosen = learned["tool"] = max(CHECKED, key=before.index)
                assert before.index(chosen) > 0
                assert not (await call("call_tool", {"server": "toolbox", "tool": chosen,
                                                     "arguments": ARGUMENTS[chosen]})).is_error
                deadline, after = time.monotonic() + 90, before
                while time.monotonic() < deadline:
                    after = [t for s, t in found_tools(await call("find_tools", {"need": need, "k": 30,
                                                                                  "record": False}))
                             if s == "toolbox"]
                    if after.index(chosen) < before.index(chosen):
                        break
                    await anyio.sleep(1)
                assert after.index(chosen) < before.index(chosen), (before, after)

                # failures name the server; the gateway keeps serving and restarts the server
                itself = await call("call_tool", {"server": "itself", "tool": "find_tools", "arguments": {}})
                assert itself.is_error and "unknown server 'itself'" in texts(itself)  # never started
                unknown = await call("call_tool", {"server": "nope", "tool": "x", "arguments": {}})
                assert unknown.is_error and "unknown server 'nope'" in texts(unknown) and "toolbox" in texts(unknown)
                broken = await call("call_tool", {"server": "broken", "tool": "x", "arguments": {}})
                assert broken.is_error and "server 'broken': cannot start: command 'no-such-mcp-server-here' " \
                                           "not found" in texts(broken)
                noisy = await call("call_tool", {"server": "noisy", "tool": "add_numbers", "arguments": {}})
                assert noisy.is_error and "server 'noisy': it wrote a line on stdout that is not JSON-RPC: " \
                                          "'garbage line 0: starting up...'" in texts(noisy)
                silent = await call("call_tool", {"server": "silent", "tool": "x", "arguments": {}})
                assert silent.is_error and "server 'silent': did not start and list its tools within 15 s" \
                                           in texts(silent) and "warming up forever" in texts(silent)
                crash = await call("call_tool", {"server": "toolbox", "tool": "crash", "arguments": {}})
                assert crash.is_error and "server 'toolbox': crashed during crash" in texts(crash)
                assert "crashing on purpose" in texts(crash)  # the end of its stderr
                hang = await call("call_tool", {"server": "toolbox", "tool": "hang", "arguments": {"seconds": 600}})
                assert hang.is_error and "server 'toolbox': hang got no answer within 3 s" in texts(hang)
                again = await call("call_tool", {"server": "toolbox", "tool": "reverse_text", "arguments": {"text": "ab"}})
                assert texts(again) == "ba"
                memory = await call("find_tools", {"need": "add to the knowledge graph that Alice likes tea", "k": 5})
                assert "memory" in {s for s, _ in found_tools(memory)}

                # tools/list_changed: the new tool is indexed and found
                assert texts(await call("call_tool", {"server": "toolbox", "tool": "grow",
                                                      "arguments": {"name": "translate_to_klingon"}})) \
                    == "added translate_to_klingon"
                deadline, names = time.monotonic() + 120, []
                while time.monotonic() < deadline and "translate_to_klingon" not in names:
                    await anyio.sleep(1)
                    names = [t for _, t in found_tools(await call("find_tools", {"need": "translate_to_klingon",
                                                                                 "k": 5, "record": False}))]
                assert "translate_to_klingon" in names

    anyio.run(go)

    # the call was stored as a select of that tool for its need
    db = sqlite3.connect(home / "matchgraph.db")
    selects = db.execute("select query, artifact_id, capability_id from events where kind = 'select'").fetchall()
    db.close()
    assert ("run the check for me", "toolbox", learned["tool"]) in selects
    assert ("what time is it in Tokyo right now", "time", "get_current_time") in selects
    assert not [s for s in selects if s[2] in ("crash", "hang", "x")]  # failed calls teach nothing

    # the secrets are nowhere: catalog, store, index, results, pages, logs
    catalog = load_catalog([home / "gateway" / "servers.jsonl"])
    assert {a.id for a in catalog} == {"toolbox", "time", "memory", "remote"}
    everything = [p for p in home.rglob("*") if p.is_file()] + [log]
    for secret in SECRETS:
        assert not [p for p in everything if secret.encode() in p.read_bytes()], secret
        assert not [text for text in shown if secret in text]
    logged = log.read_text()
    assert "server 'toolbox': crashed" in logged and "${TOOLBOX_TOKEN}" in logged
    assert "Traceback" not in logged and "Failed to parse JSONRPC" not in logged, logged
    with TestClient(create_app(home, refresh_seconds=0, background=False)) as client:
        for url in ("/", "/a/toolbox", "/a/remote", "/api/tools?need=token", "/api/search?q=token&record=false",
                    "/api/artifacts/remote", "/compare/toolbox/vs/remote", "/?q=token",
                    "/tools?need=token", "/tools?need=token&format=json"):
            page = client.get(url)
            assert page.status_code == 200, url
            assert not any(secret in page.text for secret in SECRETS), url


@pytest.mark.slow
def test_gateway_over_streamable_http(tmp_path, model):
    home = tmp_path / "home"
    config = tmp_path / ".mcp.json"
    config.write_text(json.dumps({"mcpServers": {"toolbox": {"command": sys.executable, "args": [str(TOOLBOX)]},
                                                 "time": {"command": "mcp-server-time"}}}))
    port = free_ports(1)[0]
    log = (tmp_path / "gateway.log").open("w+")
    process = subprocess.Popen([CLI, "gateway", "--servers", str(config), "--home", str(home), "--http", str(port)],
                               env=gateway_env(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/mcp"
    need = "turn this word around so it reads backwards"

    async def session_calls(first: ClientSession, second: ClientSession) -> None:
        found = found_tools(await first.call_tool("find_tools", {"need": need, "k": 3}))
        assert found[0] == ("toolbox", "reverse_text")
        # the other session never found it: forwarded, not recorded
        other = await second.call_tool("call_tool", {"server": "toolbox", "tool": "reverse_text",
                                                     "arguments": {"text": "abc"}})
        assert texts(other) == "cba"
        mine = await first.call_tool("call_tool", {"server": "toolbox", "tool": "reverse_text",
                                                   "arguments": {"text": "abc"}})
        assert texts(mine) == "cba"
        unknown = await first.call_tool("call_tool", {"server": "toolbox", "tool": "nope", "arguments": {}})
        assert unknown.is_error and "server 'toolbox' has no tool 'nope'" in texts(unknown)

    async def go() -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                async with streamable_http_client(url) as (r1, w1), ClientSession(r1, w1) as first, \
                        streamable_http_client(url) as (r2, w2), ClientSession(r2, w2) as second:
                    await first.initialize()
                    await second.initialize()
                    await session_calls(first, second)
                    return
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                await anyio.sleep(1)

    try:
        anyio.run(go)
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.seek(0)
        output = log.read()
    assert "Traceback" not in output, output
    db = sqlite3.connect(home / "matchgraph.db")
    selects = db.execute("select query, artifact_id, capability_id from events where kind = 'select'").fetchall()
    db.close()
    assert selects == [(need, "toolbox", "reverse_text")]
