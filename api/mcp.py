"""matchgraph over the Model Context Protocol: the engine's search, compare, similar and artifact
as MCP tools for AI agents, plus `record_selection` (token-protected) to teach the match graph.

One server definition (`create_mcp_server`), two transports:

- stdio, for desktop agents: `matchgraph mcp [--home DIR]` (`run_stdio`);
- streamable HTTP at `/mcp` inside `matchgraph serve` (`create_mcp_http`, mounted by api/app.py).

Output schemas are derived from the pydantic models of `matchgraph.models` (the JSON API's shapes):
with `detail=false` (the default) a tool returns the same shape with the bulky fields left out
(ids, titles, scores, one-line reasons); with `detail=true` it returns the whole API document.
Engine errors (unknown or ambiguous artifact, bad parameter, no index) become MCP tool errors
(`isError: true`) carrying the engine's message; nothing else leaks, never a stack trace.
"""

import json
import logging
import sys
import types as pytypes
from contextlib import asynccontextmanager
from typing import Annotated, Any, AsyncIterator, Callable, Optional, Union, get_args, get_origin

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError, create_model
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api.models import EventsResult
from matchgraph.catalog import Artifact, Kind, Pricing
from matchgraph.engine import Engine
from matchgraph.errors import MatchgraphError, NotFound, Unauthorized, ValidationFailed
from matchgraph.events import check_query
from matchgraph.models import (ArtifactDetail, CapabilityOut, Comparison, MatchEvidence, Reason, ScoreCard, SearchResponse,
                               SearchResult, Side, SimilarResponse)
from matchgraph.tokens import fit_results
from matchgraph.validation import problems_of

log = logging.getLogger("matchgraph.mcp")

MCP_PATH = "/mcp"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

INSTRUCTIONS = """\
matchgraph finds AI models, tools, APIs, datasets and apps by what they can do, and compares them.
Typical flow: `search` with the user's need in their own words -> `artifact` for one candidate's
details, or `compare` for two candidates ("A vs B") -> `similar` for alternatives. Artifacts are
named by id (e.g. microsoft/trocr-base-handwritten); a unique name or unambiguous fuzzy name also
works. Results are compact by default; pass detail=true for the full document. When the user
settles on an artifact for a need, `record_selection` (needs the server's write token) teaches
the match graph."""


# -- compact views ------------------------------------------------------------------------------
# For each model, the fields a compact result keeps; models not listed keep every field. Lists
# named in LIST_LIMITS are cut to that many items in compact results.
Keep = dict[type[BaseModel], set[str]]

SEARCH_KEEP: Keep = {
    SearchResult: {"artifact_id", "name", "kind", "pricing", "task", "rank", "score", "position",
                   "matched_capability", "matched_capability_title", "explanation", "tool"},
}
COMPARE_KEEP: Keep = {
    Side: {"id", "name", "kind", "pricing", "task", "url", "scores", "capabilities"},
    ScoreCard: {"adoption", "quality", "ecosystem", "match_graph", "freshness", "rank", "times_matched"},
    CapabilityOut: {"id", "title"},
}
ARTIFACT_KEEP: Keep = {
    # ScoreCard keeps its one-line explanations: they are the artifact's "why".
    CapabilityOut: {"id", "title"},
}
SIMILAR_KEEP: Keep = {}
# Keys of the catalog record (ArtifactDetail.artifact, a free-form dict) kept in compact results.
RECORD_KEEP = ("id", "name", "kind", "pricing", "provider", "task", "license", "url", "tags")
LIST_LIMITS = {(MatchEvidence, "both"): 5, (MatchEvidence, "only_a"): 5, (MatchEvidence, "only_b"): 5,
               (ArtifactDetail, "queries"): 5}


def one_line(text: str | None) -> str | None:
    """The first sentence of an explanation: the one-line reason of a compact result."""
    if not text:
        return text
    head, sep, _ = text.partition(". ")
    return head + "." if sep else text


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside X, list[X], X | None, dict[str, X] (None when there is none)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _swap(annotation: Any, old: type[BaseModel], new: type[BaseModel]) -> Any:
    """`annotation` with the model `old` replaced by `new` (inside list[...] and unions too)."""
    if annotation is old:
        return new
    origin, args = get_origin(annotation), get_args(annotation)
    if not args:
        return annotation
    swapped = tuple(_swap(a, old, new) for a in args)
    if origin in (Union, pytypes.UnionType):
        return Union[swapped]  # noqa: UP007
    return origin[swapped] if origin is not None else annotation


def output_model(model: type[BaseModel], keep: Keep, detail_note: str,
                 _cache: dict | None = None) -> type[BaseModel]:
    """The MCP output model of a tool, derived from the API model `model`: the same fields, types
    and descriptions, except that the fields a compact result leaves out become optional."""
    cache = {} if _cache is None else _cache
    if model in cache:
        return cache[model]
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = _nested_model(annotation)
        if inner is not None:
            annotation = _swap(annotation, inner, output_model(inner, keep, detail_note, cache))
        description = info.description
        if model in keep and name not in keep[model]:
            annotation = Optional[annotation]
            description = f"{description + ' ' if description else ''}({detail_note})"
            fields[name] = (annotation, Field(None, description=description, title=info.title))
        else:
            default = info.default if not info.is_required() else ...
            fields[name] = (annotation, Field(default, description=description, title=info.title))
    derived = create_model(model.__name__, __doc__=model.__doc__, **fields)
    cache[model] = derived
    return derived


def project(model: type[BaseModel], data: Any, keep: Keep) -> Any:
    """The compact view of `data` (a JSON dump of `model`): drop the fields `keep` leaves out,
    cut long lists, shorten explanations to one line."""
    if isinstance(data, list):
        return [project(model, item, keep) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for name, value in data.items():
        if model in keep and name not in keep[model]:
            continue
        info = model.model_fields.get(name)
        inner = _nested_model(info.annotation) if info is not None else None
        if inner is not None and value is not None:
            value = project(inner, value, keep)
        limit = LIST_LIMITS.get((model, name))
        if limit is not None and isinstance(value, list):
            value = value[:limit]
        if name == "explanation" and isinstance(value, str):
            reason = data.get("reason")  # a search result words its typed reason
            value = Reason.model_validate(reason).sentence() if reason else one_line(value)
        out[name] = value
    return out


COMPACT_NOTE = "only with detail=true"
Detail = Annotated[bool, Field(description="false (default): compact result (ids, titles, scores, "
                                           "one-line reasons); true: the full document")]
SearchOut = output_model(SearchResponse, SEARCH_KEEP, COMPACT_NOTE)
ComparisonOut = output_model(Comparison, COMPARE_KEEP, COMPACT_NOTE)
ArtifactOut = output_model(ArtifactDetail, ARTIFACT_KEEP, COMPACT_NOTE)
SimilarOut = output_model(SimilarResponse, SIMILAR_KEEP, COMPACT_NOTE)


class SelectionRecorded(EventsResult):
    """What record_selection stored: POST /api/events' counts plus the resolved artifact."""

    query: str
    artifact_id: str = Field(description="the artifact the name resolved to")
    capability_id: Optional[str] = Field(None, description="the capability (tool) the selection names")


def capability_named(artifact: Artifact, name: str) -> str:
    """The id of `artifact`'s capability whose id, or whose MCP tool name, is `name`."""
    for capability in artifact.capabilities:
        if name in (capability.id, capability.tool.name if capability.tool else None):
            return capability.id
    known = ", ".join(c.id for c in artifact.capabilities[:20])
    raise ToolError(f"tool: '{name}' is not a capability or tool of {artifact.id} (it has: {known})")


def _result(model: type[BaseModel], full: BaseModel, detail: bool, keep: Keep,
            max_tokens: int | None = None) -> CallToolResult:
    """A tool result: structured content plus the same JSON as text (for clients that read text);
    with `max_tokens`, results cut best first to what fits (see matchgraph.tokens)."""
    data = full.model_dump(mode="json")
    if not detail:
        data = project(model, data, keep)
        if model is SearchResponse:  # a compact result leaves out a tool's absence, not its presence
            for item in data.get("results", []):
                if item.get("tool") is None:
                    item.pop("tool", None)
        if model is ArtifactDetail:
            record = full.artifact
            data["artifact"] = {k: record[k] for k in RECORD_KEEP if record.get(k) not in (None, [], "")}
            data["artifact"]["capabilities"] = [{"id": c["id"], "title": c["title"]}
                                                for c in record.get("capabilities", [])]
    if max_tokens is not None:
        data = fit_results(data, max_tokens)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _call(fn: Callable[[], Any]) -> Any:
    """Run an engine call; its user errors become MCP tool errors with the engine's message."""
    try:
        return fn()
    except ValidationFailed as exc:  # the engine's field names are the tools' argument names
        raise ToolError("bad argument: " + exc.summary) from None
    except NotFound as exc:
        raise ToolError(f"{exc} (use the search tool to find artifact ids)") from None
    except MatchgraphError as exc:
        raise ToolError(str(exc)) from None


def _bearer(ctx: Context | None) -> str | None:
    """The Bearer token of the HTTP request carrying this call (None on stdio)."""
    if ctx is None:
        return None
    try:
        request = ctx.request_context.request
    except ValueError:
        return None
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def check_token(engine: Engine, given: str | None) -> None:
    """The engine's token rule, as MCP tool errors that say how to send the token."""
    try:
        engine.authorize(given)
    except Unauthorized as exc:
        hint = {"missing": ": pass it as the `token` argument, or over HTTP as the header "
                           "'Authorization: Bearer <token>'"}.get(exc.reason, "")
        raise ToolError(f"refused: {exc}{hint}") from None


# -- the server ---------------------------------------------------------------------------------
class _Server(MCPServer):
    """MCPServer whose argument errors read "search: bad argument: k: Input should be ..."
    (one line per argument) instead of pydantic's multi-line report."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                prefix = f"Error executing tool {name}: "
                message = str(exc)
                if message.startswith(prefix):
                    raise ToolError(f"{name}: {message[len(prefix):]}") from cause
                raise
            problems = problems_of(cause, default_field="arguments", with_input=True)
            raise ToolError(f"{name}: bad argument: " + "; ".join(problems)) from cause


def create_mcp_server(engine: Engine) -> MCPServer:
    """The MCP server over `engine`: tools search, compare, similar, artifact, record_selection."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    server = _Server("matchgraph", title="matchgraph", version="0.1.0", instructions=INSTRUCTIONS,
                       log_level="WARNING")
    root.handlers[:], root.level = saved  # the SDK calls logging.basicConfig: keep the host's logging
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(
        title="Search models and tools by capability",
        description="Find AI models, tools, APIs, datasets or apps that can do what the user needs. "
                    "Use this FIRST whenever the user describes a task in words (\"read handwritten "
                    "letters\", \"make a picture from a sentence\") and you need candidates or an id. "
                    "Returns ranked artifacts, each with the capability that matched, its rank out of "
                    "100 and a one-line reason. Filters narrow by kind, pricing or task. The search is "
                    "recorded in the match graph unless record=false.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                    open_world_hint=False))
    def search(
        query: Annotated[str, Field(min_length=1, description="what the user needs, in their own words")],
        k: Annotated[Optional[int], Field(ge=1, le=100, description="number of results "
                                                                     "(default: the server's search.k)")] = None,
        kind: Annotated[Optional[Kind], Field(description="only this kind of artifact")] = None,
        pricing: Annotated[Optional[Pricing], Field(description="only this pricing")] = None,
        task: Annotated[Optional[str], Field(description="only this task, e.g. image-to-text")] = None,
        record: Annotated[bool, Field(description="store this search as match events")] = True,
        detail: Detail = False,
        max_tokens: Annotated[Optional[int], Field(ge=1, le=1_000_000, description=(
            "keep only the best results whose whole answer fits this many tokens, estimated as "
            "ceil(JSON characters / 4); `omitted` says how many were cut"))] = None,
    ) -> Annotated[CallToolResult, SearchOut]:
        response = _call(lambda: engine.search(query, k, kind, pricing, task, record=record, client="mcp"))
        return _result(SearchResponse, response, detail, SEARCH_KEEP, max_tokens)

    @server.tool(
        title="Compare two artifacts (A vs B)",
        description="Compare two artifacts side by side: a table (Type, Rank, Adoption, Quality, "
                    "Ecosystem, Match Graph, Pricing, Capabilities, Times Matched), a verdict sentence, "
                    "the capabilities they share and those unique to each, and the past queries that "
                    "matched both. Use when the user weighs two candidates (\"X vs Y\", \"which is "
                    "better for ...\"); name them by id (from search) or by name.",
        annotations=read_only)
    def compare(
        a: Annotated[str, Field(min_length=1, description="first artifact: id, name or unambiguous fuzzy name")],
        b: Annotated[str, Field(min_length=1, description="second artifact")],
        detail: Detail = False,
    ) -> Annotated[CallToolResult, ComparisonOut]:
        return _result(Comparison, _call(lambda: engine.compare(a, b)), detail, COMPARE_KEEP)

    @server.tool(
        title="Find similar capabilities or alternatives",
        description="Find alternatives: give `artifact` (optionally one of its `capability` ids) to get "
                    "its nearest capabilities elsewhere and its most similar artifacts, or give `text` "
                    "(a capability described in words) to get the closest capabilities in the catalog. "
                    "Use when the user wants \"something like X\" or options beyond the top result.",
        annotations=read_only)
    def similar(
        text: Annotated[Optional[str], Field(description="a capability described in words")] = None,
        artifact: Annotated[Optional[str], Field(description="an artifact id or name")] = None,
        capability: Annotated[Optional[str], Field(description="one capability id of `artifact`")] = None,
        k: Annotated[int, Field(ge=1, le=100, description="number of neighbours")] = 10,
        detail: Detail = False,
    ) -> Annotated[CallToolResult, SimilarOut]:
        result = _call(lambda: engine.similar(text, artifact, capability, k))
        return _result(SimilarResponse, result, detail, SIMILAR_KEEP)

    @server.tool(
        title="Artifact details",
        description="Everything about one artifact: catalog record, scores out of 100 (adoption, "
                    "quality, ecosystem, match graph, freshness, rank) with the reason for each, Times "
                    "Matched, its capabilities, the past queries that matched it and similar artifacts. "
                    "Use when the user asks about one specific model or tool, or before recommending it.",
        annotations=read_only)
    def artifact(
        id: Annotated[str, Field(min_length=1, description="artifact id, name or unambiguous fuzzy name")],
        detail: Detail = False,
    ) -> Annotated[CallToolResult, ArtifactOut]:
        return _result(ArtifactDetail, _call(lambda: engine.artifact(id)), detail, ARTIFACT_KEEP)

    @server.tool(
        title="Record the user's selection",
        description="Tell matchgraph that the user chose `artifact` for `query` (a select event): it "
                    "strengthens that query->artifact edge in the match graph and counts toward Times "
                    "Matched. Use only after the user has actually picked an artifact for their need. "
                    "Needs the server's write token: the `token` argument, or over HTTP the header "
                    "'Authorization: Bearer <token>'; refused when the server has no token configured.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                    open_world_hint=False))
    def record_selection(
        query: Annotated[str, Field(min_length=1, description="the user's need, as searched")],
        artifact: Annotated[str, Field(min_length=1, description="the chosen artifact: id or name")],
        token: Annotated[Optional[str], Field(description="the write token (not needed when sent as an "
                                                          "HTTP Authorization: Bearer header)")] = None,
        tool: Annotated[Optional[str], Field(min_length=1, description=(
            "which of the artifact's capabilities was used: a capability id, or an MCP tool's name "
            "(as search returned it); teaches the graph which tool serves this need"))] = None,
        ctx: Context = None,
    ) -> SelectionRecorded:
        check_token(engine, token or _bearer(ctx))
        _call(lambda: check_query(query, "query"))  # what a search could record: words, no NUL, not too long
        chosen = _call(lambda: engine.resolve(artifact, "artifact"))
        event = {"query": query, "artifact_id": chosen.id, "kind": "select"}
        if tool is not None:
            event["capability_id"] = capability_named(chosen, tool)
        counts = _call(lambda: engine.add_events([event]))
        return SelectionRecorded(query=query, artifact_id=chosen.id, capability_id=event.get("capability_id"),
                                 **counts)

    return server


# -- transports ---------------------------------------------------------------------------------
class MCPHttp:
    """The streamable-HTTP endpoint of the MCP server, to add to an ASGI app at `path` (/mcp).

    `route` is a Starlette route for the app's routes; `lifespan()` runs the SDK's session manager
    and must be entered in the app's lifespan (each entry starts a fresh manager, so an app whose
    lifespan runs several times, as in tests, keeps working)."""

    def __init__(self, server: MCPServer, path: str, security: TransportSecuritySettings, host: str):
        self.server = server
        self.path = path
        self._security = security
        self._host = host
        self.manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self.manager
        if manager is None:
            body = b'{"error": "unavailable", "status": 503, "message": "the MCP endpoint is not running"}'
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await manager.handle_request(scope, receive, send)

    @property
    def route(self) -> Route:
        return Route(self.path, endpoint=self, methods=["GET", "POST", "DELETE"], include_in_schema=False)

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # Stateless JSON responses: any API replica can answer any request, no sticky sessions.
        # (streamable_http_app builds the SDK's session manager; its Starlette wrapper is unused.)
        self.server.streamable_http_app(streamable_http_path=self.path, json_response=True,
                                        stateless_http=True, transport_security=self._security,
                                        host=self._host)
        manager = self.server.session_manager
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None


def create_mcp_http(engine: Engine, path: str = MCP_PATH, host: str | None = None) -> MCPHttp:
    """Streamable HTTP for `engine`'s MCP server. When the server listens on a loopback address
    (`host`, default config server.host), DNS-rebinding protection admits only localhost
    Host/Origin headers; a server bound to another address accepts the names it is reached by."""
    host = host or str(engine.config.get("server", {}).get("host") or "127.0.0.1")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1", "localhost", "[::1]", "127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    ) if host in LOOPBACK else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return MCPHttp(create_mcp_server(engine), path, security, host)


def run_stdio(engine: Engine) -> None:
    """Serve `engine` over stdio until the client closes stdin (stdout carries only JSON-RPC;
    logs go to stderr)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:  # load the index and the model before the first call rather than during it
        engine.embedder(engine.state.index.manifest["model"]).encode_query("warm up")
    except MatchgraphError as exc:  # serve anyway: every tool call reports the problem
        log.warning("%s", exc)
    create_mcp_server(engine).run("stdio")


__all__ = ["create_mcp_server", "create_mcp_http", "run_stdio", "MCPHttp", "MCP_PATH",
           "SearchOut", "ComparisonOut", "ArtifactOut", "SimilarOut", "SelectionRecorded"]
