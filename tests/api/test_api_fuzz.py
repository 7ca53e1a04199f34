"""The API takes no nonsense: schemathesis fuzzes every operation of the app's own OpenAPI spec
in-process (ASGI) on a copy of the demo home, asserting no 5xx and responses that conform to the
spec; then explicit regression tests for the inputs that used to produce a 500 or a wrong answer.

Deterministic: Hypothesis is derandomized (a fixed seed per test) and keeps no example database.
"""

from __future__ import annotations

import json
import shutil

import pytest
import schemathesis
from conftest import SD, TROCR
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 25  # per operation and generation mode: ~13 operations x 2 modes x 25 requests


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, demo_home_ro):
    home = tmp_path_factory.mktemp("fuzz") / "home"
    shutil.copytree(demo_home_ro, home)
    app = create_app(home, overrides={"token": TOKEN}, refresh_seconds=0, background=False, mcp=False)
    yield app
    app.state.engine.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def operations(schema):
    ops = [result.ok() for result in schema.get_all_operations()]
    # the reindex re-reads the catalog (seconds each) and takes no input but the token: not fuzzed
    return [op for op in ops if op.path != "/api/admin/reindex"]


def errors_are_json(ctx, response, case):
    """Every 4xx of the JSON API is an ErrorBody; a 422 names the parameter at fault."""
    if 400 <= response.status_code < 500:
        body = json.loads(response.content)
        assert body["status"] == response.status_code and body["message"], body
        if response.status_code == 422:
            assert body["parameter"], body
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, errors_are_json]


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
@pytest.mark.slow
def test_every_operation_conforms_to_the_spec(api_schema, mode):
    ops = operations(api_schema)
    assert {op.path for op in ops} >= {"/api/search", "/api/artifacts/{id}", "/api/artifacts/{id}/similar",
                                       "/api/capabilities/similar", "/api/compare", "/api/graph",
                                       "/api/graph/export", "/api/events", "/api/stats", "/healthz", "/readyz"}
    negative = mode == schemathesis.GenerationMode.NEGATIVE
    checks = CHECKS + ([negative_data_rejection] if negative else [])
    statuses: dict[str, dict[int, int]] = {}
    runs = [(op, {}) for op in ops]
    if not negative:  # random names are all unknown: also fuzz the rest around a real artifact
        by_path = {op.path: op for op in ops}
        runs += [(by_path["/api/compare"], {"query": {"a": TROCR}}),
                 (by_path["/api/artifacts/{id}/similar"], {"path_parameters": {"id": TROCR}}),
                 (by_path["/api/capabilities/similar"], {"query": {"artifact": SD}}),
                 (by_path["/api/graph"], {"query": {"ego": TROCR}})]
    for op, fixed in runs:
        seen = statuses.setdefault(f"{op.method.upper()} {op.path} {fixed or ''}".strip(), {})

        @given(case=op.as_strategy(generation_mode=mode, **fixed))
        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            response = case.call_and_validate(headers=AUTH, checks=checks)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1

        try:
            fuzz()
        except Unsatisfiable:  # no invalid value exists (no parameters, or a free-form string path)
            assert negative and not seen, op.path
    reached = [op for op, seen in statuses.items() if seen]
    assert len(reached) >= (7 if negative else len(runs)), statuses


# -- regression tests: each input here used to answer 500, or wrongly ---------------------------
@pytest.fixture
def client(demo_home):
    app = create_app(demo_home, overrides={"token": TOKEN}, refresh_seconds=0, background=False, mcp=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def error_of(response, status: int, parameter: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["status"] == status and body["message"] and "Traceback" not in response.text
    if parameter is not None:
        assert body["parameter"] == parameter, body
    return body


@pytest.mark.parametrize("q", ["%", "..", "/", "💥", "\U000fe64e", "x" * 2001, "ocr\x00"])
def test_search_queries_the_engine_cannot_record_are_422(client, q):
    # used to be 500: a recorded search stores its query as events, which need words, at most
    # 2000 characters, and (PostgreSQL) no NUL
    before = client.app.state.engine.store.event_count()
    error_of(client.get("/api/search", params={"q": q}), 422, "q")
    error_of(client.get("/api/search", params={"q": q, "record": "false"}), 422, "q")
    page = client.get("/", params={"q": q})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert client.app.state.engine.store.event_count() == before
    assert client.get("/api/search", params={"q": "x" * 2000, "record": "false"}).status_code == 200


def test_search_blank_task_is_no_filter(client):
    r = client.get("/api/search", params={"q": "read handwritten letters", "task": "  ", "record": "false"})
    assert r.status_code == 200 and r.json()["results"]  # used to filter on task " ": no results


@pytest.mark.parametrize("path", ["/api/graph", "/api/graph/export", "/graph"])
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-1"])
def test_min_weight_must_be_finite_and_not_negative(client, path, value):
    # inf used to be accepted: /api/graph answered "min_weight": null, against its own schema
    r = client.get(path, params={"min_weight": value})
    assert r.status_code == 422
    if path.startswith("/api"):
        error_of(r, 422, "min_weight")


def test_405_carries_allow(client):
    # used to drop the Allow header the router sets (RFC 9110 requires it)
    for method, path, allowed in (("DELETE", "/api/search", "GET"), ("PUT", "/api/events", "POST"),
                                  ("TRACE", "/healthz", "GET")):
        body = error_of(client.request(method, path), 405)
        assert client.request(method, path).headers["allow"] == allowed
        assert allowed in body["message"]


def test_blank_names_are_422_and_an_empty_id_is_404(client):
    error_of(client.get("/api/compare", params={"a": " ", "b": SD}), 422, "a")
    error_of(client.get("/api/compare", params={"a": TROCR, "b": "  "}), 422, "b")
    error_of(client.get("/api/capabilities/similar", params={"artifact": " "}), 422, "artifact")
    # used to be 422 "text: give a text or an artifact" (the empty id fell through to the text branch)
    error_of(client.get("/api/artifacts//similar"), 404, "id")
    error_of(client.get("/api/capabilities/similar", params={"text": "x" * 10_001}), 422, "text")


@pytest.mark.parametrize("path", ["/api/artifacts/..", "/api/artifacts/%2e%2e%2f%2e%2e", "/api/artifacts/%2F",
                                  "/api/artifacts/%00", "/api/artifacts/%FF", "/a/%00", "/a/%2e%2e",
                                  "/compare/%00/vs/%FF"])
def test_odd_ids_are_404(client, path):
    r = client.get(path)
    assert r.status_code == 404, r.text


def test_odd_pages(client):
    assert client.get("/compare/only-one").status_code == 422
    assert client.get("/compare//vs/").status_code == 422
    assert client.get("/compare/x/vs/y").status_code == 404
    assert client.get("/graph", params={"ego": "nonsense"}).status_code == 200
    error_of(client.get("/graph", params={"ego": "nonsense", "format": "json"}), 404, "ego")
    assert client.get("/graph", params={"radius": "99"}).status_code == 422
    assert client.get("/a/" + "x" * 300).status_code == 404
    assert client.get("/a/" + "x" * 5000).status_code == 422  # over limits.name_length: refused unmatched


def post(client, body, **headers):
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/events", content=content,
                       headers={**AUTH, "Content-Type": "application/json", **headers})


EVENT = {"query": "read old letters", "artifact_id": TROCR, "kind": "select"}


@pytest.mark.parametrize("body", [
    "[" * 100_000,  # used to be 500: RecursionError in json.loads
    '{"a":' * 5000 + "1" + "}" * 5000,
    '{"events": [{"query": "x", "artifact_id": "%s", "score": NaN}]}' % TROCR,  # not JSON; was stored
    '{"events": [{"query": "x", "artifact_id": "%s", "score": Infinity}]}' % TROCR,
    b"\xff\xfe",
    "",
    "{",
])
def test_malformed_bodies_are_422(client, body):
    before = client.app.state.engine.store.event_count()
    error_of(post(client, body), 422, "body")
    assert client.app.state.engine.store.event_count() == before


@pytest.mark.parametrize("change,field", [
    ({"rank": 10**30}, "events[0].rank"),  # used to be 500: OverflowError in the store
    ({"rank": 2**31}, "events[0].rank"),  # PostgreSQL's INTEGER column
    ({"capability_id": "c" * 301}, "events[0].capability_id"),  # VARCHAR(300): a DataError on PostgreSQL
    ({"query": "read \x00 letters"}, "events[0].query"),  # PostgreSQL refuses NUL in text
    ({"event_id": "id\x00"}, "events[0].event_id"),
    ({"query": 5}, "events[0].query"),
    ({"kind": "click"}, "events[0].kind"),
    ({"extra": 1}, "events[0].extra"),
    ({"ts": "yesterday"}, "events[0].ts"),
])
def test_bad_events_are_422_naming_the_field(client, change, field):
    before = client.app.state.engine.store.event_count()
    body = error_of(post(client, {"events": [dict(EVENT, **change)]}), 422, field)
    assert body["problems"]
    assert client.app.state.engine.store.event_count() == before


def test_events_edge_cases_that_are_fine(client):
    r = post(client, {"events": [dict(EVENT, event_id="d1"), dict(EVENT, event_id="d1")]})
    assert r.status_code == 200 and r.json() == {"received": 2, "new": 1, "duplicates": 1}
    r = post(client, {"events": [dict(EVENT, rank=2**31 - 1, score=1e308, capability_id="c" * 300)]})
    assert r.status_code == 200, r.text
    error_of(post(client, {"events": [dict(EVENT, artifact_id="no/such-artifact")]}), 422, "events[0]")
    r = client.post("/api/events", json={"events": [EVENT]},
                    headers={**AUTH, "Content-Type": "application/vnd.api+json"})
    assert r.status_code == 200
    r = client.post("/api/events", content=json.dumps({"events": [EVENT]}).encode(), headers=AUTH)
    assert r.status_code == 200  # no Content-Type at all: read as JSON


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_wrong_content_type_is_415(client, content_type):
    # used to be accepted (text/plain) or a confusing "not valid JSON"
    body = error_of(post(client, {"events": [EVENT]}, **{"Content-Type": content_type}), 415)
    assert body["error"] == "unsupported_media_type" and "application/json" in body["message"]
    # the token is still checked first
    error_of(client.post("/api/events", content="x", headers={"Content-Type": content_type}), 401)


def test_mcp_search_and_record_selection_refuse_what_cannot_be_recorded(demo_home):
    # the MCP tools share the search guard: the engine used to fail with a pydantic error (and on
    # PostgreSQL a DataError for NUL) while recording such a query
    import asyncio

    from mcp import Client

    from api.mcp import create_mcp_server
    from matchgraph import Engine

    engine = Engine(demo_home, {"token": TOKEN})

    async def go():
        async with Client(create_mcp_server(engine)) as client:
            for query in ("%%%", "x" * 2001, "read\x00letters"):
                for tool, args in (("search", {"query": query}),
                                   ("record_selection", {"query": query, "artifact": TROCR, "token": TOKEN})):
                    result = await client.call_tool(tool, args)
                    text = " ".join(c.text for c in result.content)
                    assert result.is_error and "query:" in text and "Traceback" not in text, (tool, text)

    try:
        before = engine.store.event_count()
        asyncio.run(go())
        assert engine.store.event_count() == before
    finally:
        engine.close()
