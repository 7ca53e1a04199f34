"""Tool-level search (`find_tools`) on every face, over real servers: mcp-server-time and
mcp-server-git imported live, the Swagger petstore (OpenAPI) and a slice of the MCP registry seed.

Each result is one callable unit with how to call it; several tools of one server may rank;
prompts, resources and registry servers only when asked for; a recorded selection of a tool
lifts that tool; `max_tokens` compacts schemas before it leaves results out."""

from __future__ import annotations

import asyncio
import json
import shutil

import numpy as np
import pytest
from conftest import FIXTURES
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import create_app
from api.mcp import create_mcp_server
from matchgraph import Engine
from matchgraph.cli import app
from matchgraph.core.catalog import Artifact, Capability, capability_kind, load_catalog
from matchgraph.core.errors import ValidationFailed
from matchgraph.importers import import_catalog
from matchgraph.search.budget import estimate_tokens

SEED = FIXTURES / "import" / "mcp-registry-seed-2025-05-16.json"
PETSTORE = FIXTURES / "import" / "petstore-expanded-3.0.yaml"
TIME, GIT = "mcp-server-time", "mcp-server-git"
TOKEN = "find-tools-token"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    folder = tmp_path_factory.mktemp("find-tools-catalog")
    import_catalog("mcp", [TIME, f"{GIT} --repository ."], folder / "servers.jsonl")
    import_catalog("openapi", [str(PETSTORE)], folder / "petstore.jsonl")
    head = folder.parent / "seed-head.json"
    head.write_text(json.dumps(json.loads(SEED.read_text(encoding="utf-8"))[:120]), encoding="utf-8")
    import_catalog("mcp-registry", [str(head)], folder / "registry.jsonl")
    return folder


@pytest.fixture(scope="module")
def tools_home(catalog, tmp_path_factory, model):
    home = tmp_path_factory.mktemp("find-tools-home")
    engine = Engine(home)
    engine.index([catalog])
    engine.close()
    return home


@pytest.fixture
def writable_home(tools_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(tools_home, home)
    return home


def keys(response) -> list[tuple[str, str]]:
    return [(r.artifact_id, r.capability_id) for r in response.results]


def test_engine_ranks_tools_of_one_server_apart(tools_home):
    engine = Engine(tools_home)
    now = engine.find_tools("what time is it in Tokyo right now", k=5, record=False)
    convert = engine.find_tools("what is 3pm in New York in London time", k=5, record=False)
    assert keys(now)[0] == ("mcp-time", "get_current_time")
    assert keys(convert)[0] == ("mcp-time", "convert_time")
    assert ("mcp-time", "convert_time") in keys(now)[:3]  # the same server's other tool ranks too
    top = now.results[0]
    assert top.kind == "tool" and top.tool.server == TIME and top.tool.name == "get_current_time"
    assert top.tool.input_schema["properties"]["timezone"]["type"] == "string"
    assert [r.position for r in now.results] == list(range(1, len(now.results) + 1))
    assert all(a.score >= b.score for a, b in zip(now.results, now.results[1:]))
    assert {r.kind for r in now.results} <= {"tool", "operation"}  # no registry server unless asked
    assert now.recorded is False and engine.events_stored() == 0
    engine.close()


def test_openapi_operation_says_how_to_call_it(tools_home):
    engine = Engine(tools_home)
    found = engine.find_tools("delete a pet by its id", k=3, record=False)
    top = found.results[0]
    assert (top.artifact_id, top.capability_id, top.kind) == ("swagger-petstore", "deletePet", "operation")
    assert (top.tool.protocol, top.tool.method, top.tool.path) == ("openapi", "DELETE", "/pets/{id}")
    assert top.tool.server == "http://petstore.swagger.io/api"
    assert top.tool.input_schema["properties"]["path"]["required"] == ["id"]
    add = engine.find_tools("add a new pet to the store", k=1, record=False).results[0]
    assert add.tool.method == "POST" and add.tool.input_schema["properties"]["body"]["required"] == ["name"]
    engine.close()


def test_registry_servers_and_other_kinds_only_when_asked(tools_home, catalog):
    engine = Engine(tools_home)
    servers = engine.find_tools("automate a web browser", k=5, record=False, kinds=["server"])
    assert servers.results and {r.kind for r in servers.results} == {"server"}
    started = [r.tool for r in servers.results if r.tool is not None]
    assert started and all(t.protocol == "mcp-server" for t in started)
    assert all(t.server.startswith(("npx -y ", "uvx ", "docker run -i --rm", "http://", "https://"))
               for t in started)
    # the seed declares env vars with example values: only their names reach the catalog and results
    records = [json.loads(line) for line in (catalog / "registry.jsonl").read_text().splitlines()]
    declared = {v["name"]: v.get("description", "") for s in json.loads(SEED.read_text())[:120]
                for p in s.get("packages") or [] for v in p.get("environment_variables") or []}
    needing = [r for r in records if r["capabilities"][0].get("tool", {}).get("env")]
    assert needing and all(set(r["capabilities"][0]["tool"]["env"]) <= set(declared) for r in needing)
    both = engine.find_tools("what time is it", k=10, record=False, kinds="tool,server")
    assert {r.kind for r in both.results} <= {"tool", "server"}
    with pytest.raises(ValidationFailed, match="kinds: must be among tool, operation, server, prompt, resource"):
        engine.find_tools("what time is it", kinds=["widgets"])
    with pytest.raises(ValidationFailed, match="need"):
        engine.find_tools("   ")
    engine.close()


def test_selection_of_a_tool_lifts_that_tool(writable_home):
    engine = Engine(writable_home, {"token": TOKEN})
    need = "which files did I change that are not staged yet"
    cold = engine.find_tools(need, k=5, record=False)
    assert ("mcp-git", "git_diff_unstaged") in keys(cold)
    picked = [{"query": q, "artifact_id": "mcp-git", "capability_id": "git_diff_unstaged", "kind": "select"}
              for q in ("what did I modify but not stage yet", "show my unstaged edits",
                        "list changes I have not added to the index")]
    engine.add_events(picked)
    warm = engine.find_tools(need, k=5, record=False)
    assert keys(warm)[0] == ("mcp-git", "git_diff_unstaged")
    lifted = {r.capability_id: r.signals.graph for r in warm.results}
    others = [v for c, v in lifted.items() if c != "git_diff_unstaged"]
    assert lifted["git_diff_unstaged"] > max(others)  # the tool, not its whole server
    # an unrelated need is ranked as before
    assert keys(engine.find_tools("what time is it in Tokyo right now", k=3, record=False))[0] == \
        ("mcp-time", "get_current_time")
    engine.close()


def test_recorded_find_tools_stores_one_match_per_tool(writable_home):
    engine = Engine(writable_home)
    found = engine.find_tools("show the commit history of my repository", k=5)
    assert found.recorded
    shown = found.results[: engine.config["search"]["record_top"]]
    edges = engine.state.graph.capability_edges
    for r in shown:
        matches, selects = edges[(next(q for q, a, c in edges if q.startswith("show the commit")),
                                  r.artifact_id, r.capability_id)]
        assert (matches, selects) == (1, 0)
    assert engine.events_stored() == len(shown)
    engine.close()


def test_max_tokens_trims_schemas_before_it_drops_results(tools_home):
    engine = Engine(tools_home)
    need = "what is 3pm in New York in London time"
    full = engine.find_tools(need, k=5, record=False)
    whole = estimate_tokens(full.model_dump(mode="json"))
    cut = engine.find_tools(need, k=5, record=False, max_tokens=whole - 40)
    assert cut.tokens <= whole - 40 and cut.trimmed and cut.omitted == 0
    assert keys(cut) == keys(full)
    assert any(t.endswith("property descriptions") for t in cut.trimmed)
    tiny = engine.find_tools(need, k=5, record=False, max_tokens=50)
    assert len(tiny.results) == 1 and tiny.omitted == len(full.results) - 1
    assert keys(tiny)[0] == keys(full)[0]  # the best tool always comes back, trimmed as far as it goes
    assert {t.split(": ")[1] for t in tiny.trimmed} >= {"property descriptions", "description"}
    assert tiny.results[0].tool.input_schema["required"] == full.results[0].tool.input_schema["required"]
    engine.close()


def test_cli_find_tools(tools_home):
    runner = CliRunner()
    result = runner.invoke(app, ["find-tools", "delete a pet by its id", "-k", "2", "--json", "--no-record",
                                 "--home", str(tools_home)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["results"][0]["tool"]["name"] == "deletePet" and data["recorded"] is False
    text = runner.invoke(app, ["find-tools", "what time is it in Tokyo", "-k", "2", "--no-record",
                               "--home", str(tools_home)])
    assert text.exit_code == 0 and "get_current_time" in text.stdout and f"call: {TIME}" in text.stdout
    bad = runner.invoke(app, ["find-tools", "x", "--kind", "widgets", "--home", str(tools_home)])
    assert bad.exit_code == 2 and "kinds: must be among" in bad.output


def test_http_api_tools(writable_home):  # the page records its searches
    app_ = create_app(writable_home, refresh_seconds=0, background=False)
    with TestClient(app_) as client:
        found = client.get("/api/tools", params={"need": "show the commit history of my repository", "k": 3,
                                                 "record": "false"})
        assert found.status_code == 200
        data = found.json()
        assert data["results"][0]["artifact_id"] == "mcp-git"
        assert data["results"][0]["tool"]["name"] == data["results"][0]["capability_id"]
        assert data["results"][0]["tool"]["server"] == f"{GIT} --repository ."
        budget = client.get("/api/tools", params={"need": "delete a pet by its id", "k": 5, "record": "false",
                                                  "max_tokens": 150}).json()
        assert budget["tokens"] <= 150 or len(budget["results"]) == 1
        assert budget["results"][0]["capability_id"] == "deletePet" and budget["omitted"] >= 1
        page = client.get("/tools", params={"need": "delete a pet by its id", "k": 3})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'data-capability="deletePet"' in page.text and "DELETE /pets/{id}" in page.text
        assert "http://petstore.swagger.io/api" in page.text
        twin = client.get("/tools", params={"need": "delete a pet by its id", "k": 3, "format": "json"}).json()
        assert twin["results"][0]["capability_id"] == "deletePet"
        assert client.get("/tools").status_code == 200  # the empty form
        bad = client.get("/api/tools", params={"need": "x", "kind": "widgets"})
        assert bad.status_code == 422 and bad.json()["parameter"] == "kind"
        assert client.get("/api/tools", params={"need": "x", "max_tokens": 0}).status_code == 422


def test_mcp_find_tools(tools_home):
    from mcp import Client

    engine = Engine(tools_home)

    async def go():
        async with Client(create_mcp_server(engine)) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert set(listed["find_tools"].input_schema["properties"]) >= {"need", "k", "max_tokens", "record"}
            found = (await client.call_tool("find_tools", {"need": "what is 3pm in New York in London time",
                                                           "k": 3, "record": False})).structured_content
            top = found["results"][0]
            assert top["tool"]["name"] == "convert_time" and top["tool"]["server"] == TIME
            assert "signals" not in top  # compact by default
            small = (await client.call_tool("find_tools", {"need": "what is 3pm in New York in London time",
                                                           "k": 3, "record": False, "max_tokens": 120}))
            assert not small.is_error
            data = small.structured_content
            assert len(data["results"]) == 1 and data["results"][0]["tool"]["name"] == "convert_time"
            assert data["omitted"] == 2 and data["trimmed"]
            servers = (await client.call_tool("find_tools", {"need": "automate a web browser", "k": 3,
                                                             "record": False, "kinds": ["server"]})).structured_content
            assert servers["results"] and {r["kind"] for r in servers["results"]} == {"server"}
            wrong = await client.call_tool("find_tools", {"need": "x", "kinds": ["widgets"]})
            assert wrong.is_error and "kinds" in wrong.content[0].text
            bad = await client.call_tool("find_tools", {"need": "x", "k": 0})
            assert bad.is_error and "k" in bad.content[0].text

    asyncio.run(go())
    engine.close()


def test_old_catalog_records_still_load_and_get_kinds(tmp_path):
    old = {"id": "old-server", "name": "Old", "kind": "tool", "task": "mcp-server",
           "capabilities": [{"id": "ping", "title": "Ping", "tool": {"server": "old-mcp", "name": "ping",
                                                                      "input_schema": {}}},
                            {"id": "prompt-hello", "title": "Hello"}, {"id": "resource-readme", "title": "Readme"}]}
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(old) + "\n")
    artifact = load_catalog([path])[0]
    assert [capability_kind(c, artifact.task) for c in artifact.capabilities] == ["tool", "prompt", "resource"]
    # an MCP tool's record is written as before (no new keys), so older readers still load it
    assert json.loads(artifact.model_dump_json())["capabilities"][0] == {
        **old["capabilities"][0], "description": "", "unique": None, "vs_alternatives": None, "inputs": [],
        "outputs": [], "best_for": None}
    assert capability_kind(Capability(id="x", title="X"), "image-to-text") is None
    assert Artifact(id="m", name="m", capabilities=[{"id": "c", "title": "t"}]).capabilities[0].kind is None


def test_adapter_fit_targets_the_selected_tool(writable_home):
    from matchgraph.learn.adapter import fit_key, tool_choices
    from matchgraph.learn.fits import past_requests

    engine = Engine(writable_home, {"token": TOKEN})
    engine.add_events([{"query": "show my unstaged edits", "artifact_id": "mcp-git",
                        "capability_id": "git_diff_unstaged", "kind": "select"},
                       {"query": "show my unstaged edits", "artifact_id": "mcp-git",
                        "capability_id": "git_status", "kind": "match"}])
    state = engine.state
    index, graph = state.index, state.graph
    chosen = tool_choices(graph, index)
    pos = index.position["mcp-git"]
    assert chosen == {(graph.query_pos["show my unstaged edits"], pos):
                      int(index.cap_start[pos]) + index.cap_ids[pos].index("git_diff_unstaged")}
    conf = engine.config["search"]
    texts = past_requests(graph, conf["input_markers"])
    assert fit_key(index, texts, graph.query_vectors, graph.weights, conf, chosen) != \
        fit_key(index, texts, graph.query_vectors, graph.weights, conf)  # another tool, another fit
    # the fitted offsets move the selected tool towards the request
    adapter = state.adapter
    row = chosen[(graph.query_pos["show my unstaged edits"], pos)]
    vector = engine.embedder().encode_query("show my unstaged edits")
    general, personal = adapter.row_scores(index, vector, [row])
    assert personal[0] > general[0]
    engine.close()


def test_a_selection_lifts_its_tool_only_for_needs_worded_near_it(writable_home):
    from matchgraph.search.tools import history_closeness

    assert history_closeness(np.array([0.4, 0.5, 0.7, 0.9, 0.97]), 0.5, 0.9).tolist() == \
        pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    engine = Engine(writable_home, {"token": TOKEN})
    need = "make a new branch called feature-login"
    cold = engine.find_tools(need, k=5, record=False)
    engine.add_events([{"query": q, "artifact_id": "mcp-git", "capability_id": "git_checkout", "kind": "select"}
                       for q in ("switch to the branch called experiment", "check out the release branch")])
    state = engine.state
    vector = engine.embedder().encode_query(need)
    closest = max(float(state.graph.query_vectors[state.graph.query_pos[q]] @ vector)
                  for q in ("switch to the branch called experiment", "check out the release branch"))
    assert closest < engine.config["tools"]["history_min_sim"]  # same server's topic, another request
    warm = engine.find_tools(need, k=5, record=False)
    assert keys(warm)[0] == keys(cold)[0]  # the sibling selected for other requests does not take its place
    near = engine.find_tools("switch to the branch called experiment please", k=5, record=False)
    assert keys(near)[0] == ("mcp-git", "git_checkout")
    engine.close()


def test_broad_texts_are_centered_away(tools_home):
    from matchgraph.retrieval.tool_index import centroid_cosines

    vectors = np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]], dtype=np.float32)
    centroid = vectors[:2].sum(0) / np.linalg.norm(vectors[:2].sum(0))
    assert centroid_cosines(vectors, np.array([0, 1])).tolist() == pytest.approx([*(vectors[:2] @ centroid), 0.0])
    engine = Engine(tools_home)
    tools = engine.state.index.tools
    kinds = tools.kind_of[tools.rows]
    servers, callable_ = tools.rows[kinds == tools.codes(["server"])[0]], tools.rows[kinds == tools.codes(["tool"])[0]]
    # a registry server describes many features, a tool one: the server sits nearer the middle
    assert np.median(tools.generic[servers]) > np.median(tools.generic[callable_])
    found = engine.find_tools("what time is it in Tokyo right now", k=3, record=False, kinds="tool,server")
    top = found.results[0]
    assert (top.artifact_id, top.capability_id) == ("mcp-time", "get_current_time")
    assert top.signals.dense < top.similarity  # the unit's genericness is subtracted from its cosine
    engine.close()


def test_the_centroid_weighs_each_server_once():
    """Nine alike tools of one server and one tool each of two others: weighed per server, the
    many alike tools are not the middle of the catalog (they would be, weighed per tool)."""
    import numpy as np

    from matchgraph.retrieval.tool_index import centroid_cosines

    many, a, b = np.eye(3, dtype=np.float32)
    vectors = np.stack([many] * 9 + [a, b])
    rows = np.arange(len(vectors))
    owners = np.array([0] * 9 + [1, 2])
    per_tool = centroid_cosines(vectors, rows)
    per_server = centroid_cosines(vectors, rows, owners)
    assert per_tool[0] > per_tool[9] and per_tool[0] > 0.9
    assert np.allclose(per_server, per_server[0])  # three servers, one weight each: all equally central


def test_the_history_lifts_only_the_tool_it_supports_most(writable_home):
    from matchgraph.search.tools import history_gate

    history = np.array([0.0, 0.2, 0.5, 0.5, 0.45])
    assert history_gate(history, 1.0).tolist() == [0.0, 0.0, 0.5, 0.5, 0.0]
    assert history_gate(history, 0.8).tolist() == [0.0, 0.0, 0.5, 0.5, 0.45]
    assert history_gate(history, 0.0).tolist() == history.tolist()
    assert history_gate(np.zeros(3), 1.0).tolist() == [0.0, 0.0, 0.0]
    # Two past requests near the need chose two tools of one server: the history lifts the tool of
    # the closer one, not its sibling too (whose graph part is 0 then: no adapter here).
    past = [("what time is it in Tokyo right now", "get_current_time"),
            ("what time is it in Tokyo at the moment", "convert_time")]
    need = "what time is it in Tokyo right now, please"
    for gate in (1.0, 0.0):
        engine = Engine(writable_home, {"token": TOKEN, "search": {"w_adapter": 0.0},
                                        "tools": {"history_gate": gate, "history_full_sim": 0.99}})
        engine.add_events([{"query": q, "artifact_id": "mcp-time", "capability_id": tool, "kind": "select",
                            "event_id": f"gate-{i}"} for i, (q, tool) in enumerate(past)])
        found = engine.find_tools(need, k=5, record=False)
        graph = {r.capability_id: r.signals.graph for r in found.results if r.artifact_id == "mcp-time"}
        assert graph["get_current_time"] > 0
        assert (graph.get("convert_time", 0.0) > 0) == (gate == 0.0)
        engine.close()


def test_literal_urls_and_file_names_are_matched_as_their_kind(tools_home):
    from matchgraph.search.tools import need_words

    assert need_words("what does the page at https://docs.python.org/3/whatsnew say") == "what does the page at URL say"
    assert need_words("stage README.md and src/app/setup.py") == "stage file and file"
    assert need_words("add 17.5 and 24.25, tag v1.0") == "add 17.5 and 24.25, tag v1.0"  # numbers stay
    assert need_words("https://example.com") == "URL"
    engine = Engine(tools_home)
    literal = engine.find_tools("show the last commits of https://example.com/repo.git", k=5, record=False)
    assert keys(literal) == keys(engine.find_tools("show the last commits of URL", k=5, record=False))
    assert literal.need == "show the last commits of https://example.com/repo.git"  # answered as asked
    engine.close()
    engine = Engine(tools_home, {"tools": {"value_words": False}})
    assert engine.find_tools("show the last commits of https://example.com/repo.git", k=5, record=False).results
    engine.close()
