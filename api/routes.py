"""JSON API under /api: a thin layer over matchgraph.Engine, with the engine's pydantic shapes."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi import Response as ResponseHeaders
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from matchgraph.core.catalog import Kind, Pricing
from matchgraph.core.errors import MatchgraphError, ValidationFailed, invalid
from matchgraph.core.events import MAX_QUERY  # a recorded search stores its query as events
from matchgraph.core.results import ArtifactDetail, Comparison, SearchResponse, SimilarResponse, ToolSearchResponse
from matchgraph.core.validation import loads, problems_of
from matchgraph.graph.export import FORMATS
from matchgraph.search.budget import fit_results

from .metrics import search_reason
from .models import ErrorBody, EventsIn, EventsResult, GraphView, IndexSummary, Stats
from .security import TokenRefused, check_write_token

Format = Literal["graphml", "gexf", "json", "csv"]
assert set(Format.__args__) == set(FORMATS)

ERRORS = {404: {"model": ErrorBody, "description": "no artifact answers to that name"},
          409: {"model": ErrorBody, "description": "the name is ambiguous; `candidates` lists the ids"},
          422: {"model": ErrorBody, "description": "a parameter is invalid; `parameter` names it"},
          503: {"model": ErrorBody, "description": "no index has been published yet"}}
WRITE_ERRORS = {401: {"model": ErrorBody, "description": "no bearer token sent"},
                403: {"model": ErrorBody, "description": "wrong token"},
                429: {"model": ErrorBody, "description": "too many wrong tokens from this client "
                                                         "(server.token_failures_per_minute); retry after a minute"},
                413: {"model": ErrorBody, "description": "body larger than server.max_body_bytes"},
                415: {"model": ErrorBody, "description": "the body is not sent as application/json"},
                422: {"model": ErrorBody, "description": "invalid body; `problems` lists every place"},
                503: {"model": ErrorBody, "description": "write endpoints are off: no token configured"}}


MAX_TEXT = 10_000  # free text to embed (the model reads only its first few hundred tokens anyway)
EXAMPLE_A, EXAMPLE_B = "microsoft/trocr-base-handwritten", "stabilityai/stable-diffusion"

router = APIRouter(prefix="/api")
bearer = HTTPBearer(auto_error=False, description="the write token (MATCHGRAPH_TOKEN)")


class WriteError(HTTPException):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, message)
        self.code = code


def engine(request: Request):
    return request.app.state.engine


NOT_RECORDED = "X-Matchgraph-Not-Recorded"  # why a search asked to record was not (api/guard.py)


def recording_client(request: Request, record: bool, headers) -> tuple[bool, str | None]:
    """(record, client key) for a search: the guard's verdict (cross-site, rate limit) when the
    search asked to be recorded; the reason it was not goes to the NOT_RECORDED header."""
    if not record:
        return False, None
    client, reason = request.app.state.guard.recording(request)
    if reason is not None:
        headers[NOT_RECORDED] = reason
        return False, None
    return True, client


def timed_search(request: Request, face: str, asked: bool, refused: str | None, run) -> SearchResponse:
    """run() (the engine's search), timed; what /metrics counts of it (latency, recorded or not
    and why) is left in request.state for the metrics middleware."""
    started = time.perf_counter()
    found = run()
    request.state.search = {"face": face, "seconds": time.perf_counter() - started, "recorded": found.recorded,
                            "reason": search_reason(found.recorded, asked, bool(found.results), refused)}
    return found


@contextmanager
def renamed(**names: str):
    """Engine errors raised inside name this route's parameters (`query="q"`: the engine's
    `query` is this route's `q`)."""
    try:
        yield
    except MatchgraphError as exc:
        raise exc.renamed(names) from None


WRITE_STATUS = {"blocked": (429, "too_many_requests"), "disabled": (503, "writes_disabled"),
                "missing": (401, "unauthorized"), "wrong": (403, "forbidden")}


def require_token(request: Request,
                  credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
    """The write-token check (api/security.py); a missing token is sent as
    `Authorization: Bearer <token>`, a blocked client retries after a minute."""
    try:
        check_write_token(request.app.state.engine, credentials.credentials if credentials else None,
                          request.app.state.guard, request)
    except TokenRefused as exc:
        status, code = WRITE_STATUS[exc.reason]
        hint = ": send `Authorization: Bearer <token>`" if exc.reason == "missing" else ""
        error = WriteError(status, code, f"{exc}{hint}")
        if exc.reason == "blocked":
            error.headers = {"Retry-After": "60"}
        raise error from None


# -- reading ----------------------------------------------------------------------------------
@router.get("/search", response_model=SearchResponse, responses=ERRORS, tags=["search"],
            summary="Rank artifacts whose capabilities fit a query")
def api_search(request: Request, response: ResponseHeaders,
               q: str = Query(..., min_length=1, max_length=MAX_QUERY,
                              description="what you need, in your own words (letters or digits, "
                                          f"at most {MAX_QUERY} characters)",
                              examples=["read handwritten letters"]),
               k: Optional[int] = Query(None, ge=1, le=100, description="number of results "
                                                                          "(default: config search.k)"),
               kind: Optional[Kind] = Query(None, description="only this kind"),
               pricing: Optional[Pricing] = Query(None, description="only this pricing"),
               task: Optional[str] = Query(None, description="only this task, e.g. image-to-text"),
               record: bool = Query(True, description="store the top results as match events: "
                                    "not when the request comes from another site's page, and at "
                                    "most server.record_per_minute per client (see README "
                                    "\"Operations\"); header X-Matchgraph-Not-Recorded says why not"),
               max_tokens: Optional[int] = Query(None, ge=1, le=1_000_000,
                                                 description="keep only the best results whose whole response "
                                                             "fits this many tokens, estimated as ceil(JSON "
                                                             "characters / 4); `omitted` says how many were cut")
               ) -> SearchResponse:
    asked = record
    record, client = recording_client(request, record, response.headers)
    with renamed(query="q"):
        found = timed_search(request, "api", asked, response.headers.get(NOT_RECORDED), lambda: engine(request).search(
            q, k, kind, pricing, task, record=record, client=client))
    if max_tokens is None:
        return found
    return SearchResponse.model_validate(fit_results(found.model_dump(mode="json"), max_tokens))


@router.get("/tools", response_model=ToolSearchResponse, responses=ERRORS, tags=["search"],
            summary="Rank callable tools (MCP tools, OpenAPI operations) for an agent's need")
def api_tools(request: Request, response: ResponseHeaders,
              need: str = Query(..., min_length=1, max_length=MAX_QUERY,
                                description="what the agent needs done, in its own words",
                                examples=["what time is it in Tokyo"]),
              k: Optional[int] = Query(None, ge=1, le=100, description="number of tools (default: config tools.k)"),
              max_tokens: Optional[int] = Query(None, ge=1, le=1_000_000,
                                                description="fit the answer to this many tokens (ceil(JSON characters "
                                                            "/ 4)): schemas are compacted before tools are left "
                                                            "out; `trimmed` and `omitted` say what was cut"),
              record: bool = Query(True, description="store the top tools as match events (as /api/search)"),
              kind: Optional[list[str]] = Query(None, description="tool, operation, server, prompt or resource "
                                                                  "(repeatable; default: config tools.kinds)")
              ) -> ToolSearchResponse:
    record, client = recording_client(request, record, response.headers)
    with renamed(kinds="kind"):
        return engine(request).find_tools(need, k, max_tokens, record=record, kinds=kind, client=client)


@router.get("/artifacts/{id:path}/similar", response_model=SimilarResponse, responses=ERRORS,
            tags=["artifacts"], summary="Artifacts and capabilities most similar to an artifact")
def api_artifact_similar(request: Request,
                         id: str = Path(..., description="artifact id (may contain '/'), or its name"),
                         k: int = Query(10, ge=1, le=100)) -> SimilarResponse:
    eng = engine(request)
    return eng.similar(artifact=eng.resolve(id, "id").id, k=k)


@router.get("/artifacts/{id:path}", response_model=ArtifactDetail, responses=ERRORS,
            tags=["artifacts"], summary="One artifact: record, scores with explanations, queries, similar")
def api_artifact(request: Request,
                 id: str = Path(..., description="artifact id (may contain '/'), or its name")
                 ) -> ArtifactDetail:
    return engine(request).artifact(id)


@router.get("/capabilities/similar", response_model=SimilarResponse, responses=ERRORS,
            tags=["artifacts"], summary="Capabilities nearest to a text, or to an artifact's capability")
def api_capabilities_similar(request: Request,
                             text: Optional[str] = Query(None, max_length=MAX_TEXT, description="free text"),
                             artifact: Optional[str] = Query(None, description="artifact id or name",
                                                             examples=[EXAMPLE_A]),
                             capability: Optional[str] = Query(None, description="capability id of that artifact"),
                             k: int = Query(10, ge=1, le=100)) -> SimilarResponse:
    return engine(request).similar(text=text, artifact=artifact, capability=capability, k=k)


@router.get("/compare", response_model=Comparison, responses=ERRORS, tags=["artifacts"],
            summary='"A vs B": the table, verdict, capability alignment and match-graph evidence')
def api_compare(request: Request,
                a: str = Query(..., min_length=1, description="artifact id or name", examples=[EXAMPLE_A]),
                b: str = Query(..., min_length=1, description="artifact id or name", examples=[EXAMPLE_B])
                ) -> Comparison:
    return engine(request).compare(a, b)


@router.get("/graph", response_model=GraphView, responses=ERRORS, tags=["graph"],
            summary="Nodes and edges around an artifact or past query, for drawing")
def api_graph(request: Request,
              ego: Optional[str] = Query(None, description="artifact id/name or past query text; "
                                         "empty: the heaviest part of the whole graph"),
              radius: int = Query(1, ge=0, le=5), min_weight: float = Query(0.0, ge=0, allow_inf_nan=False),
              limit: int = Query(200, ge=1, le=2000, description="at most this many nodes")) -> GraphView:
    return graph_view(request, ego, radius, min_weight, limit)


def graph_view(request: Request, ego: str | None, radius: int, min_weight: float, limit: int) -> GraphView:
    eng = engine(request)
    node = eng.graph_node(ego.strip()) if ego and ego.strip() else None
    view = eng.graph_view(node, radius, min_weight, limit)
    return GraphView(ego=node, radius=radius, min_weight=min_weight, nodes=view["nodes"],
                     edges=view["edges"], truncated=view["total"] > len(view["nodes"]), total=view["total"])


@router.get("/graph/export", tags=["graph"], responses={**ERRORS, 200: {
    "description": "the export as a download (csv: a zip of nodes.csv and edges.csv)",
    "content": {"application/graphml+xml": {}, "application/gexf+xml": {}, "application/json": {},
                "application/zip": {}}}},
    summary="Download the match graph (GraphML, GEXF, node-link JSON or CSV)")
def api_graph_export(request: Request,
                     format: Format = Query("graphml", description="graphml, gexf, json or csv"),
                     min_weight: float = Query(0.0, ge=0, allow_inf_nan=False,
                                              description="drop query edges lighter than this"),
                     ego: Optional[str] = Query(None, description="artifact id/name or past query: "
                                                "export only its neighbourhood"),
                     radius: int = Query(1, ge=0, le=5, description="hops around `ego`")) -> Response:
    eng = engine(request)
    node = eng.graph_node(ego.strip()) if ego and ego.strip() else None
    content, media, filename = eng.graph_export(format, min_weight, node, radius)
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/stats", response_model=Stats, tags=["operations"], summary="Index, store and graph sizes")
def api_stats(request: Request) -> Stats:
    data = dict(engine(request).stats())
    data.pop("home", None)  # a server need not reveal its folders
    data["store"] = engine(request).store.dialect  # the URL holds a path (SQLite) or a host
    return Stats(**data)


# -- writing ----------------------------------------------------------------------------------
@router.post("/events", response_model=EventsResult, tags=["write"],
             dependencies=[Depends(require_token)], responses=WRITE_ERRORS,
             summary="Store a batch of search/feedback events (needs the token)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/EventsIn"}}}}})
async def api_events(request: Request) -> EventsResult:
    """Validated whole: one bad event rejects the batch (422 listing every problem). Sending the
    same `event_id` twice stores it once. New events reach the graph within graph.refresh_seconds."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise WriteError(415, "unsupported_media_type",
                         f"send the body as JSON with `Content-Type: application/json`, not '{media}'")
    raw = await request.body()
    try:
        data = loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise invalid("request", "body", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid("request", "body", "not valid JSON: nested too deeply") from None
    try:
        body = EventsIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("request", problems_of(exc, default_field="body")) from None
    items = [e.model_dump(mode="json", exclude_none=True) for e in body.events]
    result = await run_in_threadpool(engine(request).add_events, items)
    return EventsResult(**result)


@router.post("/admin/reindex", response_model=IndexSummary, tags=["write"],
             dependencies=[Depends(require_token)],
             responses={**WRITE_ERRORS, 409: {"model": ErrorBody, "description": "a reindex is running"}},
             summary="Re-read the configured catalog and publish a new index version (needs the token)")
def api_reindex(request: Request) -> IndexSummary:
    """Embeds only new or changed capabilities; the new version is served as soon as it is
    published, without failing requests in flight. A bad catalog is rejected (422) and the
    current index stays."""
    service = request.app.state.service
    if not service.reindex_lock.acquire(blocking=False):
        raise WriteError(409, "conflict", "a reindex is already running")
    try:
        summary = engine(request).index()
        service.touch()  # build the new state now, not on the next request
        return IndexSummary(**summary)
    finally:
        service.reindex_lock.release()
