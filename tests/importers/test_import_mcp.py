"""`matchgraph import mcp` against live servers: the reference servers mcp-server-time and
mcp-server-git (from PyPI, the `test` extra) and matchgraph's own `matchgraph mcp` over stdio and
streamable HTTP; failures name the command or URL; and an agent's round trip on the imported
tools: search returns the tool to call (server, name, input schema) within a token budget, and
record_selection teaches the graph which tool served the need."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest
from conftest import FIXTURES, clean_env, free_ports, running_servers, serve_command
from fastapi.testclient import TestClient

from api import create_app
from api.mcp import create_mcp_server
from matchgraph import Engine
from matchgraph.core.catalog import load_catalog
from matchgraph.importers import ImportFailed, import_catalog
from matchgraph.importers.mcp import import_mcp
from matchgraph.search.budget import estimate_tokens

SEED = FIXTURES / "import" / "mcp-registry-seed-2025-05-16.json"
TIME, GIT = "mcp-server-time", "mcp-server-git"
TOKEN = "import-test-token"
OWN_TOOLS = {"search", "find_tools", "compare", "similar", "artifact", "record_selection"}


def ownserver_env() -> dict[str, str]:
    """What `matchgraph mcp` needs besides the SDK's default environment (it reads no settings)."""
    env = clean_env()
    return {k: env[k] for k in ("PYTHONPATH", "VIRTUAL_ENV", "HF_HOME", "HF_HUB_OFFLINE") if k in env}


@pytest.fixture(scope="module")
def reference_servers(tmp_path_factory):
    """The two reference servers imported live into one catalog file."""
    out = tmp_path_factory.mktemp("live") / "servers.jsonl"
    summary = import_catalog("mcp", [TIME, f"{GIT} --repository ."], out)
    return out, summary


def test_reference_servers_become_tool_artifacts(reference_servers):
    out, summary = reference_servers
    assert summary["artifacts"] == 2 and summary["skipped"] == []
    servers = {a.id: a for a in load_catalog([out])}
    assert set(servers) == {"mcp-time", "mcp-git"}
    time_server = servers["mcp-time"]
    assert time_server.kind == "tool" and time_server.signals["integrations"] == [f"stdio:{TIME}"]
    tools = {c.id: c for c in time_server.capabilities}
    assert set(tools) == {"get_current_time", "convert_time"}
    now = tools["get_current_time"]
    assert now.inputs == ["timezone"] and now.title == "Get current time"
    assert now.tool.server == TIME and now.tool.name == "get_current_time"
    assert now.tool.input_schema["required"] == ["timezone"]
    git_tools = {c.id for c in servers["mcp-git"].capabilities}
    assert {"git_status", "git_log", "git_diff", "git_commit"} <= git_tools
    assert all(c.tool.server == f"{GIT} --repository ." for c in servers["mcp-git"].capabilities)


def test_reimport_is_identical(reference_servers, tmp_path):
    out, _ = reference_servers
    again = tmp_path / "again.jsonl"
    import_catalog("mcp", [TIME, f"{GIT} --repository ."], again)
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_own_server_over_stdio(demo_home):
    imported = import_mcp([f"{sys.executable} -m matchgraph.cli mcp --home {demo_home}"], timeout=120,
                          env=ownserver_env())
    record = imported.records[0]
    assert record["id"] == "matchgraph" and {c["id"] for c in record["capabilities"]} == OWN_TOOLS
    search = next(c for c in record["capabilities"] if c["id"] == "search")
    assert "query" in search["inputs"] and search["tool"]["input_schema"]["properties"]["query"]["type"] == "string"
    assert record["description"].startswith("matchgraph finds AI models")  # the server's instructions


@pytest.mark.slow
def test_own_server_over_streamable_http(demo_home, tmp_path):
    port = free_ports(1)[0]
    with running_servers([serve_command(demo_home, port)], [f"http://127.0.0.1:{port}"], clean_env(),
                         demo_home.parent) as urls:
        out = tmp_path / "own.jsonl"
        summary = import_catalog("mcp", [f"{urls[0]}/mcp"], out, timeout=60)
    own = load_catalog([out])[0]
    assert summary["artifacts"] == 1 and {c.id for c in own.capabilities} == OWN_TOOLS
    assert own.tags == ["mcp-server", "streamable-http"] and own.url == f"{urls[0]}/mcp"


def test_failures_name_the_command_or_url_within_the_timeout(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(ImportFailed, match="no-such-mcp-server --flag: command 'no-such-mcp-server' not found"):
        import_catalog("mcp", ["no-such-mcp-server --flag"], out)
    silent = f'{sys.executable} -c "import time; time.sleep(30)"'
    started = time.monotonic()
    with pytest.raises(ImportFailed) as caught:
        import_catalog("mcp", [silent], out, timeout=3)
    assert f"{silent}: no answer within 3 s" in str(caught.value)
    assert time.monotonic() - started < 20
    crashing = f'{sys.executable} -c "import sys; sys.stderr.write(\'cannot open database\'); sys.exit(3)"'
    with pytest.raises(ImportFailed) as caught:
        import_catalog("mcp", [crashing], out, timeout=20)
    assert crashing in str(caught.value) and "cannot open database" in str(caught.value)
    url = f"http://127.0.0.1:{free_ports(1)[0]}/mcp"
    with pytest.raises(ImportFailed, match=f"{url}: the server failed to start or answer"):
        import_catalog("mcp", [url], out, timeout=10)
    assert not out.exists()


# -- an agent's round trip ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tools_home(reference_servers, tmp_path_factory, model):
    """The first 80 servers of the registry seed and the two live-imported servers, indexed
    together (a slice of the seed keeps this index quick; test_import indexes all of it)."""
    out, _ = reference_servers
    folder = tmp_path_factory.mktemp("tools-catalog")
    (folder / "servers.jsonl").write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    head = folder.parent / "seed-head.json"
    head.write_text(json.dumps(json.loads(SEED.read_text(encoding="utf-8"))[:80]), encoding="utf-8")
    import_catalog("mcp-registry", [str(head)], folder / "registry.jsonl")
    home = tmp_path_factory.mktemp("tools-home")
    engine = Engine(home)
    engine.index([folder])
    engine.close()
    return home


def test_mcp_search_returns_the_tool_to_call_and_teaches_the_graph(tools_home):
    from mcp import Client

    need = "what time is it in Tokyo right now"
    engine = Engine(tools_home, {"token": TOKEN})

    async def go():
        async with Client(create_mcp_server(engine)) as client:
            found = (await client.call_tool("search", {"query": need, "k": 5, "record": False})).structured_content
            top = found["results"][0]
            assert (top["artifact_id"], top["matched_capability"]) == ("mcp-time", "get_current_time")
            assert top["tool"]["server"] == TIME and top["tool"]["name"] == "get_current_time"
            assert top["tool"]["input_schema"]["properties"]["timezone"]["type"] == "string"
            registry_hit = next((r for r in found["results"] if r["kind"] == "tool" and r["artifact_id"] != "mcp-time"
                                 and r["artifact_id"] != "mcp-git"), None)
            # a registry entry has no tool to call, only how to start its server
            assert registry_hit is None or registry_hit.get("tool") is None \
                or registry_hit["tool"]["protocol"] == "mcp-server"

            budget = estimate_tokens(found) // 2
            cut = (await client.call_tool("search", {"query": need, "k": 5, "record": False,
                                                     "max_tokens": budget})).structured_content
            assert 1 <= len(cut["results"]) < len(found["results"])
            assert cut["omitted"] == len(found["results"]) - len(cut["results"])
            assert cut["tokens"] == estimate_tokens(cut) <= budget
            assert [r["artifact_id"] for r in cut["results"]] == \
                [r["artifact_id"] for r in found["results"][: len(cut["results"])]]
            trimmed = {int(t.split(" ", 1)[0]) for t in cut["trimmed"]}  # positions whose schema was cut
            assert all(r == found["results"][i] for i, r in enumerate(cut["results"]) if i + 1 not in trimmed)

            wrong = await client.call_tool("record_selection", {"query": need, "artifact": "mcp-time",
                                                                "tool": "git_log", "token": TOKEN})
            assert wrong.is_error and "'git_log' is not a capability or tool of mcp-time" in wrong.content[0].text
            chosen = (await client.call_tool("record_selection", {"query": need, "artifact": "mcp-time",
                                                                  "tool": "get_current_time", "token": TOKEN}))
            assert chosen.structured_content["capability_id"] == "get_current_time"
            assert chosen.structured_content["new"] == 1

    asyncio.run(go())
    engine.close()
    fresh = Engine(tools_home)
    edges = fresh.state.graph.capability_edges
    fresh.close()
    assert any(artifact == "mcp-time" and capability == "get_current_time" and query.startswith("what time")
               for query, artifact, capability in edges), edges


def test_api_search_tool_fields_and_max_tokens(tools_home):
    app = create_app(tools_home, refresh_seconds=0, background=False)
    with TestClient(app) as client:
        full = client.get("/api/search", params={"q": "show the git history of my repository", "k": 5,
                                                 "record": "false"}).json()
        assert full["results"][0]["tool"]["server"] == f"{GIT} --repository ."
        assert full["results"][0]["tool"]["name"] == full["results"][0]["matched_capability"]
        assert full["omitted"] == 0 and full["tokens"] is None
        budget = estimate_tokens(full["results"][0]) + 200
        cut = client.get("/api/search", params={"q": "show the git history of my repository", "k": 5,
                                                "record": "false", "max_tokens": budget}).json()
        assert cut["tokens"] <= budget and cut["omitted"] >= 1
        assert cut["results"][0]["artifact_id"] == full["results"][0]["artifact_id"]
        bad = client.get("/api/search", params={"q": "git", "max_tokens": 0})
        assert bad.status_code == 422 and "max_tokens" in json.dumps(bad.json())


def test_artifact_page_shows_how_to_start_the_server_and_each_tools_arguments(tools_home):
    """The page shows the fields the API returns: the command that starts the server (said once:
    every tool shares it) and each tool's arguments with type and whether it is required."""
    import re

    app = create_app(tools_home, refresh_seconds=0, background=False)
    with TestClient(app) as client:
        page = client.get("/a/mcp-time").text
        twin = client.get("/a/mcp-time", params={"format": "json"}).json()
    tool = next(c for c in twin["artifact"]["capabilities"] if c["id"] == "get_current_time")["tool"]
    assert tool["server"] == TIME and tool["input_schema"]["required"] == ["timezone"]
    assert re.search(r"<dt>Start with</dt><dd><code class=\"copy\">" + re.escape(TIME) + "</code>", page)
    assert page.count(f">{TIME}<") == 1  # once for the artifact, not once per tool
    cells = [re.sub(r"<[^>]+>|\s+", " ", row).split() for row in re.findall(r"<tr><td><code>.*?</tr>", page, re.S)]
    assert ["timezone", "string", "required"] == cells[0][:3]
    assert "→ ?" not in page and "<code>get_current_time</code>" in page
