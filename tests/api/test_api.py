"""The HTTP layer through FastAPI's TestClient on the demo fixtures: endpoints, shapes, errors,
tokens, pages and their JSON twins, metrics, and index swaps under load."""

from __future__ import annotations

import io
import logging
import threading
import zipfile

import networkx as nx
import pytest
from conftest import SD, TROCR
from fastapi.testclient import TestClient

from api import create_app

TOKEN = "s3cret-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_client(home, **overrides):
    app = create_app(home, overrides=overrides or None, refresh_seconds=0, background=False)
    return TestClient(app)


@pytest.fixture
def client(demo_home):
    with make_client(demo_home) as c:
        yield c


@pytest.fixture
def writer(demo_home):
    with make_client(demo_home, token=TOKEN) as c:
        yield c


def error_of(response, status: int, parameter: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body["message"]
    if parameter is not None:
        assert body["parameter"] == parameter, body
    return body


# -- operations -------------------------------------------------------------------------------
def test_health_ready_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["index_version"] == client.app.state.engine.state.index.version
    assert ready.json()["artifacts"] >= 2

    client.get(f"/api/artifacts/{TROCR}")
    client.get(f"/api/artifacts/{SD}")
    client.get("/api/artifacts/nope")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    # counted by route template, not by raw path
    assert 'matchgraph_http_requests_total{method="GET",route="/api/artifacts/{id:path}",status="200"} 2.0' in text
    assert 'route="/api/artifacts/{id:path}",status="404"' in text
    assert TROCR not in text
    assert 'matchgraph_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/artifacts/{id:path}"}' in text
    for gauge in ("matchgraph_index_version", "matchgraph_catalog_artifacts", "matchgraph_events_stored",
                  "matchgraph_catalog_capabilities"):
        assert f"\n{gauge} " in text, gauge
    events = float(text.split("\nmatchgraph_events_stored ")[1].split()[0])
    assert events == client.app.state.engine.store.event_count() > 0


def test_metrics_label_every_route_tool_and_search(demo_home):
    """/metrics parsed with prometheus_client's own parser: static files, the docs' assets and /mcp
    by route, MCP calls by tool name, searches by face with whether (and why not) they were
    recorded, latency histograms, and the index gauges."""
    from prometheus_client.parser import text_string_to_metric_families

    app = create_app(demo_home, refresh_seconds=0, background=False, host="testserver")
    mcp_headers = {"accept": "application/json, text/event-stream"}

    def tool(name, arguments):
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        assert c.post("/mcp", json=body, headers=mcp_headers).status_code == 200

    with TestClient(app) as c:
        assert c.get("/static/style.css").status_code == 200
        assert c.get("/docs/assets/swagger-ui.css").status_code == 200
        tool("search", {"query": "read handwritten letters", "record": False})
        tool("compare", {"a": TROCR, "b": "no-such-model-x"})  # a tool error
        c.get("/api/search", params={"q": "read handwritten letters", "record": "false"})
        c.get("/api/search", params={"q": "read handwritten letters"})
        c.get("/api/search", params={"q": "draw a cat"}, headers={"sec-fetch-site": "cross-site"})
        c.get("/", params={"q": "make a picture from a sentence"})
        families = {f.name: f for f in text_string_to_metric_families(c.get("/metrics").text)}
        engine = c.app.state.engine

    def samples(family, suffix=""):
        return [(s.labels, s.value) for s in families[family].samples if s.name == family + suffix]

    routes = {labels["route"] for labels, _ in samples("matchgraph_http_requests", "_total")}
    assert {"/static/{path}", "/docs/assets/{path}", "/mcp", "/api/search", "/"} <= routes
    assert "unmatched" not in routes
    calls = {(labels["tool"], labels["outcome"]): value for labels, value in samples("matchgraph_mcp_tool_calls", "_total")}
    assert calls == {("search", "ok"): 1.0, ("compare", "error"): 1.0}
    tool_counts = {l["tool"]: v for l, v in samples("matchgraph_mcp_tool_duration_seconds", "_count")}
    assert tool_counts == {"search": 1.0, "compare": 1.0}  # a latency histogram per tool
    searches = {(l["face"], l["recorded"], l["reason"]): v for l, v in samples("matchgraph_searches", "_total")}
    assert searches == {("mcp", "false", "not_asked"): 1.0, ("api", "false", "not_asked"): 1.0,
                        ("api", "true", "recorded"): 1.0, ("api", "false", "cross-site"): 1.0,
                        ("page", "true", "recorded"): 1.0}
    latency = {l["face"]: v for l, v in samples("matchgraph_search_duration_seconds", "_count")}
    assert latency == {"mcp": 1.0, "api": 3.0, "page": 1.0}
    assert families["matchgraph_http_request_duration_seconds"].type == "histogram"
    seen = engine.overview(load=False)
    assert samples("matchgraph_index_version") == [({}, float(seen.index_version))]
    assert samples("matchgraph_catalog_artifacts") == [({}, float(seen.artifacts))]


def test_readyz_waits_for_the_background_load(demo_home):
    app = create_app(demo_home, refresh_seconds=0)
    with TestClient(app) as c:
        for _ in range(600):
            r = c.get("/readyz")
            if r.status_code == 200:
                break
            assert r.status_code == 503 and r.json()["error"] == "not_ready"
            threading.Event().wait(0.05)
        assert r.status_code == 200 and r.json()["index_version"] >= 1
        assert app.state.service.warmed == {c.app.state.engine.state.index.manifest["model"]}  # model loaded


def test_no_index_is_503(tmp_path, model):
    with make_client(tmp_path / "empty") as c:
        assert c.get("/healthz").status_code == 200
        error_of(c.get("/readyz"), 503)
        body = error_of(c.get("/api/search", params={"q": "ocr"}), 503)
        assert "matchgraph index" in body["message"]


# -- search -----------------------------------------------------------------------------------
def test_search_shape_and_recording(client):
    engine = client.app.state.engine
    before = engine.store.event_count()
    r = client.get("/api/search", params={"q": "read handwritten letters", "record": "false"})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "read handwritten letters" and body["recorded"] is False
    ids = [x["artifact_id"] for x in body["results"]]
    assert TROCR in ids[:5]
    first = body["results"][0]
    for key in ("artifact_id", "name", "rank", "score", "matched_capability", "explanation", "pricing",
                "position", "signals"):
        assert key in first
    assert 0 <= first["rank"] <= 100
    assert engine.store.event_count() == before

    r = client.get("/api/search", params={"q": "read handwritten letters", "k": 3})
    assert r.json()["recorded"] is True and len(r.json()["results"]) == 3
    assert engine.store.event_count() == before + 3


def test_search_filters_and_bad_parameters(client):
    r = client.get("/api/search", params={"q": "make a picture from a sentence", "pricing": "paid", "record": "false"})
    assert r.status_code == 200
    assert r.json()["results"] and all(x["pricing"] == "paid" for x in r.json()["results"])
    r = client.get("/api/search", params={"q": "handwriting", "kind": "model", "record": "false"})
    assert all(x["kind"] == "model" for x in r.json()["results"])

    error_of(client.get("/api/search", params={"q": "ocr", "k": 0}), 422, "k")
    error_of(client.get("/api/search", params={"q": "ocr", "k": "ten"}), 422, "k")
    error_of(client.get("/api/search"), 422, "q")
    error_of(client.get("/api/search", params={"q": "   "}), 422, "q")
    error_of(client.get("/api/search", params={"q": "ocr", "kind": "robot"}), 422, "kind")


# -- artifacts, similar, compare ---------------------------------------------------------------
def test_artifact_by_id_with_slash_and_by_name(client):
    r = client.get(f"/api/artifacts/{TROCR}")
    assert r.status_code == 200
    body = r.json()
    assert body["artifact"]["id"] == TROCR
    assert set(body["scores"]) >= {"adoption", "quality", "ecosystem", "match_graph", "rank", "times_matched",
                                   "explanations"}
    assert body["scores"]["times_matched"] > 0 and body["queries"]
    assert body["similar"] and all("artifact_id" in s for s in body["similar"])
    by_name = client.get("/api/artifacts/trocr-base-handwritten").json()
    assert by_name["artifact"]["id"] == TROCR

    body = error_of(client.get("/api/artifacts/no/such-thing"), 404, "id")
    assert "no/such-thing" in body["message"]


def test_ambiguous_name_lists_candidates(client):
    body = error_of(client.get("/api/artifacts/trocr"), 409, "id")
    assert body["error"] == "ambiguous" and TROCR in body["candidates"] and len(body["candidates"]) > 1
    page = client.get("/a/trocr")
    assert page.status_code == 409 and f'href="/a/{TROCR}"' in page.text
    body = error_of(client.get("/api/compare", params={"a": "trocr", "b": SD}), 409, "a")
    assert TROCR in body["candidates"]


def test_similar_endpoints(client):
    r = client.get(f"/api/artifacts/{TROCR}/similar", params={"k": 3})
    assert r.status_code == 200
    assert r.json()["query"] == TROCR and len(r.json()["artifacts"]) == 3
    assert all(c["artifact_id"] != TROCR for c in r.json()["capabilities"])

    r = client.get("/api/capabilities/similar", params={"text": "transcribe handwriting"})
    assert r.status_code == 200 and r.json()["capabilities"]
    r = client.get("/api/capabilities/similar", params={"artifact": TROCR, "capability": "htr", "k": 5})
    assert r.status_code == 200 and r.json()["query"] == f"{TROCR}#htr"
    error_of(client.get("/api/capabilities/similar"), 422, "text")
    error_of(client.get("/api/capabilities/similar", params={"artifact": TROCR, "capability": "nope"}), 404, "capability")
    error_of(client.get("/api/capabilities/similar", params={"artifact": "nope-nope"}), 404, "artifact")
    error_of(client.get(f"/api/artifacts/{TROCR}/similar", params={"k": 500}), 422, "k")


def test_compare(client):
    r = client.get("/api/compare", params={"a": TROCR, "b": SD})
    assert r.status_code == 200
    body = r.json()
    features = [row["feature"] for row in body["table"]]
    for feature in ("Type", "Adoption", "Quality", "Ecosystem", "Match Graph", "Pricing", "Capabilities",
                    "Times Matched"):
        assert feature in features
    assert any(f.startswith("Rank") for f in features)
    assert "trocr-base-handwritten" in body["verdict"] and "Stable Diffusion" in body["verdict"]
    assert set(body["evidence"]) == {"both", "only_a", "only_b"}

    error_of(client.get("/api/compare", params={"a": TROCR, "b": "no-such-model-x"}), 404, "b")
    error_of(client.get("/api/compare", params={"a": "no-such-model-x", "b": SD}), 404, "a")
    error_of(client.get("/api/compare", params={"a": TROCR, "b": TROCR}), 422, "b")
    error_of(client.get("/api/compare", params={"a": TROCR}), 422, "b")


# -- graph ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json", "csv"])
def test_graph_export_formats(client, fmt, tmp_path):
    r = client.get("/api/graph/export", params={"format": fmt, "ego": TROCR, "radius": 1})
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    path = tmp_path / f"g.{fmt}"
    if fmt == "csv":
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert sorted(names) == ["edges.csv", "nodes.csv"]
        return
    path.write_bytes(r.content)
    graph = {"graphml": nx.read_graphml, "gexf": nx.read_gexf}.get(fmt)
    if graph:
        g = graph(path)
        assert f"a:{TROCR}" in g and g.number_of_edges() > 0
    else:
        assert any(n["id"] == f"a:{TROCR}" for n in r.json()["nodes"])


def test_graph_view_and_bad_parameters(client):
    r = client.get("/api/graph", params={"ego": TROCR})
    assert r.status_code == 200
    body = r.json()
    assert body["ego"] == f"a:{TROCR}"
    ids = {n["id"] for n in body["nodes"]}
    assert f"a:{TROCR}" in ids and any(i.startswith("q:") for i in ids)
    assert all(e["source"] in ids and e["target"] in ids for e in body["edges"])
    r = client.get("/api/graph", params={"ego": "read handwritten letters"})
    assert r.status_code == 200 and r.json()["ego"].startswith("q:")

    error_of(client.get("/api/graph/export", params={"format": "png"}), 422, "format")
    error_of(client.get("/api/graph/export", params={"radius": 9}), 422, "radius")
    error_of(client.get("/api/graph/export", params={"min_weight": -1}), 422, "min_weight")
    error_of(client.get("/api/graph/export", params={"ego": "zzz no such thing qqq"}), 404, "ego")


# -- writing ----------------------------------------------------------------------------------
EVENT = {"query": "transcribe granny's handwritten recipes", "artifact_id": TROCR, "kind": "select",
         "event_id": "api-test-1"}


def test_write_endpoints_are_off_without_a_token(client):
    for path in ("/api/events", "/api/admin/reindex"):
        body = error_of(client.post(path, json={"events": [EVENT]}, headers=AUTH), 503)
        assert body["error"] == "writes_disabled" and "MATCHGRAPH_TOKEN" in body["message"]


def test_token_rules(writer, caplog):
    caplog.set_level(logging.DEBUG)
    body = error_of(writer.post("/api/events", json={"events": [EVENT]}), 401)
    assert body["error"] == "unauthorized"
    assert writer.post("/api/events", json={"events": [EVENT]}).headers["www-authenticate"] == "Bearer"
    error_of(writer.post("/api/events", json={"events": [EVENT]}, headers={"Authorization": TOKEN}), 401)
    error_of(writer.post("/api/events", json={"events": [EVENT]},
                         headers={"Authorization": "Bearer wrong"}), 403)
    error_of(writer.post("/api/admin/reindex", headers={"Authorization": "Bearer wrong"}), 403)
    error_of(writer.post("/api/events", content=b"{not json", headers={"Authorization": "Bearer x"}), 403)
    assert writer.post("/api/events", json={"events": [EVENT]}, headers=AUTH).status_code == 200
    assert TOKEN not in caplog.text
    assert TOKEN not in writer.get("/openapi.json").text


def test_events_are_validated_whole_idempotent_and_reach_the_graph(writer):
    engine = writer.app.state.engine
    before = writer.get(f"/api/artifacts/{TROCR}").json()["scores"]["times_matched"]
    stored = engine.store.event_count()

    bad = [EVENT, {"query": "x", "artifact_id": "no/such-artifact", "kind": "select"}, {"artifact_id": TROCR}]
    body = error_of(writer.post("/api/events", json={"events": bad}, headers=AUTH), 422)
    assert any(p.startswith("events[2]") for p in body["problems"]), body
    error_of(writer.post("/api/events", json={"events": [EVENT, bad[1]]}, headers=AUTH), 422)
    assert engine.store.event_count() == stored  # nothing stored from a rejected batch
    error_of(writer.post("/api/events", json={"events": []}, headers=AUTH), 422, "events")
    error_of(writer.post("/api/events", content=b"{not json", headers=AUTH), 422, "body")

    second = dict(EVENT, event_id="api-test-2")
    r = writer.post("/api/events", json={"events": [EVENT, second]}, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"received": 2, "new": 2, "duplicates": 0}
    r = writer.post("/api/events", json={"events": [EVENT, second]}, headers=AUTH)
    assert r.json() == {"received": 2, "new": 0, "duplicates": 2}
    after = writer.get(f"/api/artifacts/{TROCR}").json()["scores"]["times_matched"]
    assert after == before + 2  # refresh_seconds=0: the graph sees the events at once
    queries = [q["query"] for q in writer.get(f"/api/artifacts/{TROCR}").json()["queries"]]
    assert any("recipes" in q for q in queries)


def test_body_too_large_is_413(demo_home):
    with make_client(demo_home, token=TOKEN, server={"max_body_bytes": 2000}) as c:
        events = [dict(EVENT, event_id=f"big-{i}") for i in range(100)]
        body = error_of(c.post("/api/events", json={"events": events}, headers=AUTH), 413)
        assert "2000" in body["message"]

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b" " * 500

        error_of(c.post("/api/events", content=chunks(), headers=AUTH), 413)
        assert c.post("/api/events", json={"events": [EVENT]}, headers=AUTH).status_code == 200


def test_reindex_publishes_a_new_version_without_failing_requests(writer):
    version = writer.get("/readyz").json()["index_version"]
    failures: list[str] = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            for url in ("/api/search?q=handwriting&record=false", f"/api/artifacts/{TROCR}",
                        f"/api/compare?a={TROCR}&b={SD}", "/readyz"):
                r = writer.get(url)
                if r.status_code != 200:
                    failures.append(f"{url}: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            r = writer.post("/api/admin/reindex", headers=AUTH)
            assert r.status_code == 200, r.text
            assert r.json()["cached"] == r.json()["capabilities"]  # nothing re-embedded
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:5]
    assert writer.get("/readyz").json()["index_version"] == version + 2


# -- OpenAPI ----------------------------------------------------------------------------------
def test_openapi_describes_every_shape(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("SearchResponse", "SearchResult", "ArtifactDetail", "ScoreCard", "Comparison", "TableRow",
                 "SimilarResponse", "ErrorBody", "EventsIn", "EventIn", "EventsResult", "IndexSummary", "Ready",
                 "GraphView"):
        assert name in schemas, name
    assert "matched_capability" in schemas["SearchResult"]["properties"]
    paths = spec["paths"]
    for path in ("/api/search", "/api/artifacts/{id}", "/api/artifacts/{id}/similar", "/api/capabilities/similar",
                 "/api/compare", "/api/graph/export", "/api/events", "/api/admin/reindex", "/healthz", "/readyz"):
        assert path in paths, path
    post = paths["/api/events"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/EventsIn")
    assert {"401", "403", "413", "422", "503"} <= set(post["responses"])
    assert paths["/api/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] \
        .endswith("/SearchResponse")


# -- pages ------------------------------------------------------------------------------------
def test_search_page_and_twin(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Search the match graph" in r.text
    r = client.get("/", params={"q": "read handwritten letters", "kind": "model"})
    assert "trocr-base-handwritten" in r.text and "/100" in r.text and "Matched capability" in r.text
    assert f"/compare/{TROCR}/vs/" in r.text or f"/vs/{TROCR}" in r.text
    twin = client.get("/", params={"q": "read handwritten letters", "format": "json"})
    assert twin.headers["content-type"].startswith("application/json")
    assert TROCR in [x["artifact_id"] for x in twin.json()["results"]]
    accept = client.get("/?q=handwriting", headers={"Accept": "application/json"})
    assert accept.json()["query"] == "handwriting"
    assert client.get("/", params={"q": "ocr", "kind": "robot"}).status_code == 422


def test_artifact_page_and_twin(client):
    r = client.get(f"/a/{TROCR}")
    assert r.status_code == 200
    folded = len(client.app.state.engine.resolve(TROCR).capabilities) - 4
    assert folded > 0 and f"+{folded} more capabilities" in r.text
    for text in ("Times Matched", "<details", "Queries that matched it", "Similar artifacts",
                 "Adoption", "downloads"):
        assert text in r.text, text
    twin = client.get(f"/a/{TROCR}", headers={"Accept": "application/json"})
    assert twin.json()["artifact"]["id"] == TROCR
    moved = client.get("/a/trocr-base-handwritten", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == f"/a/{TROCR}"
    missing = client.get("/a/nothing-like-this")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "Not found" in missing.text and "Search for" in missing.text


def test_compare_page_and_twin(client):
    r = client.get(f"/compare/{TROCR}/vs/{SD}")
    assert r.status_code == 200
    for text in ("Type", "Rank", "Adoption", "Quality", "Ecosystem", "Match Graph", "Pricing", "decomposed",
                 "Times Matched", "Verdict", "Capability alignment", "Match graph evidence", "<svg",
                 "Search the match graph"):
        assert text in r.text, text
    twin = client.get(f"/compare/{TROCR}/vs/{SD}?format=json").json()
    assert twin["a"]["id"] == TROCR and twin["b"]["id"] == SD and twin["verdict"]
    by_name = client.get("/compare/trocr-base-handwritten/vs/Stable Diffusion", follow_redirects=False)
    assert by_name.status_code == 307 and by_name.headers["location"] == f"/compare/{TROCR}/vs/{SD}"
    assert client.get("/compare/just-one-thing").status_code == 422
    assert client.get(f"/compare/{TROCR}/vs/nothing-like-this").status_code == 404
    form = client.get("/compare", params={"a": TROCR, "b": SD}, follow_redirects=False)
    assert form.headers["location"] == f"/compare/{TROCR}/vs/{SD}"


def test_graph_page_and_twin(client):
    r = client.get("/graph", params={"ego": TROCR})
    assert r.status_code == 200
    assert "/static/vendor/cytoscape.min.js" in r.text and 'id="graph-data"' in r.text
    for fmt in ("graphml", "gexf", "json", "csv"):
        assert f"/api/graph/export?format={fmt}&amp;ego=" in r.text
    twin = client.get("/graph", params={"ego": TROCR, "format": "json"}).json()
    assert twin["ego"] == f"a:{TROCR}" and twin["nodes"]
    start = client.get("/graph")
    assert start.status_code == 200 and "most matched artifact" in start.text
    whole = client.get("/graph", params={"all": "1", "format": "json"}).json()
    assert whole["ego"] is None and len(whole["nodes"]) > len(twin["nodes"])
    unknown = client.get("/graph", params={"ego": "zzz qqq nothing"})
    assert unknown.status_code == 200 and "Search for it" in unknown.text
    assert client.get("/static/vendor/cytoscape.min.js").status_code == 200
    assert client.get("/static/vendor/cytoscape.LICENSE").status_code == 200
