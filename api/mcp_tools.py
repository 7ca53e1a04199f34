"""The MCP tools' handlers: each makes one engine call and returns its compact or full view.

The tools' names, titles, descriptions and hints are declared in api/mcp.py (`TOOLS`); the input
schema of each tool is its handler's signature here. Engine errors (unknown or ambiguous
artifact, bad parameter, no index) become MCP tool errors (`isError: true`) carrying the engine's
message; nothing else leaks, never a stack trace.
"""

from typing import Annotated, Any, Callable, Optional

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from matchgraph.core.catalog import Artifact, CapabilityKind, Kind, Pricing
from matchgraph.core.errors import MatchgraphError, NotFound, ValidationFailed
from matchgraph.core.events import check_query
from matchgraph.core.results import ArtifactDetail, Comparison, SearchResponse, SimilarResponse, ToolSearchResponse
from matchgraph.engine.engine import Engine
from matchgraph.engine.inputs import check_length

from .guard import ClientGuard
from .mcp_views import (
    ARTIFACT_KEEP,
    COMPARE_KEEP,
    SEARCH_KEEP,
    SIMILAR_KEEP,
    TOOLS_KEEP,
    ArtifactOut,
    ComparisonOut,
    Detail,
    SearchOut,
    SimilarOut,
    ToolSearchOut,
    tool_result,
)
from .models import EventsResult
from .security import TokenRefused, check_write_token

STDIO_CLIENT = "mcp"  # every search of a stdio server is its one client's


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


def _http_request(ctx: Context | None):
    """The HTTP request carrying this call (None on stdio)."""
    if ctx is None:
        return None
    try:
        request = ctx.request_context.request
    except ValueError:
        return None
    return request if getattr(request, "headers", None) is not None else None


def _bearer(request) -> str | None:
    """The Bearer token of the HTTP request `request` (None without one)."""
    if request is None:
        return None
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def check_token(engine: Engine, given: str | None, guard: ClientGuard | None = None, request=None) -> None:
    """The write-token check (api/security.py), as MCP tool errors that say how to send the token.
    Over HTTP with the app's `guard`, wrong tokens count per client as on the HTTP API."""
    try:
        check_write_token(engine, given, guard, request)
    except TokenRefused as exc:
        hint = {"missing": ": pass it as the `token` argument, or over HTTP as the header "
                           "'Authorization: Bearer <token>'"}.get(exc.reason, "")
        raise ToolError(f"refused: {exc}{hint}") from None


class Tools:
    """The handlers over one engine, registered by api/mcp.py's `create_mcp_server` as the tools of
    the same names."""

    def __init__(self, engine: Engine, guard: ClientGuard | None = None):
        self.engine = engine
        self.guard = guard  # the HTTP app's: wrong tokens per client (None on stdio)
        # recorded searches: per client address over HTTP (the app's budgets), one client on stdio
        self.budgets = guard or ClientGuard(engine.config["server"], engine.store.recorded_searches)

    def recording_client(self, record: bool, ctx: Context | None) -> str | None:
        """The client key a search records under, or None when it records nothing: not asked
        to, or the client's budget (server.record_per_minute, api/guard.py) is spent."""
        if not record:
            return None
        request = _http_request(ctx)
        client = self.budgets.key(request) if request is not None else STDIO_CLIENT
        return client if self.budgets.budget(client) else None

    def search(
        self,
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
        ctx: Context = None,
    ) -> Annotated[CallToolResult, SearchOut]:
        engine = self.engine
        client = self.recording_client(record, ctx)
        response = _call(lambda: engine.search(query, k, kind, pricing, task, record=client is not None,
                                               client=client))
        return tool_result(SearchResponse, response, detail, SEARCH_KEEP, max_tokens)

    def find_tools(
        self,
        need: Annotated[str, Field(min_length=1, description="what you need done, in your own words")],
        k: Annotated[Optional[int], Field(ge=1, le=100, description="number of tools "
                                                                     "(default: the server's tools.k)")] = None,
        max_tokens: Annotated[Optional[int], Field(ge=1, le=1_000_000, description=(
            "fit the answer to this many tokens (ceil(JSON characters / 4)): input schemas are compacted "
            "(property descriptions, then optional properties) before tools are left out; the best tool "
            "is always returned; `trimmed` and `omitted` say what was cut"))] = None,
        record: Annotated[bool, Field(description="store this search as match events")] = True,
        detail: Detail = False,
        kinds: Annotated[Optional[list[CapabilityKind]], Field(max_length=5, description=(
            "what to return (default: the server's tools.kinds, tools and operations): `server` adds "
            "registry servers you could install, with how to start them"))] = None,
        ctx: Context = None,
    ) -> Annotated[CallToolResult, ToolSearchOut]:
        engine = self.engine
        client = self.recording_client(record, ctx)
        response = _call(lambda: engine.find_tools(need, k, record=client is not None, kinds=kinds, client=client))
        return tool_result(ToolSearchResponse, response, detail, TOOLS_KEEP, max_tokens)

    def compare(
        self,
        a: Annotated[str, Field(min_length=1, description="first artifact: id, name or unambiguous fuzzy name")],
        b: Annotated[str, Field(min_length=1, description="second artifact")],
        detail: Detail = False,
    ) -> Annotated[CallToolResult, ComparisonOut]:
        return tool_result(Comparison, _call(lambda: self.engine.compare(a, b)), detail, COMPARE_KEEP)

    def similar(
        self,
        text: Annotated[Optional[str], Field(description="a capability described in words")] = None,
        artifact: Annotated[Optional[str], Field(description="an artifact id or name")] = None,
        capability: Annotated[Optional[str], Field(description="one capability id of `artifact`")] = None,
        k: Annotated[int, Field(ge=1, le=100, description="number of neighbours")] = 10,
        detail: Detail = False,
    ) -> Annotated[CallToolResult, SimilarOut]:
        result = _call(lambda: self.engine.similar(text, artifact, capability, k))
        return tool_result(SimilarResponse, result, detail, SIMILAR_KEEP)

    def artifact(
        self,
        id: Annotated[str, Field(min_length=1, description="artifact id, name or unambiguous fuzzy name")],
        detail: Detail = False,
    ) -> Annotated[CallToolResult, ArtifactOut]:
        return tool_result(ArtifactDetail, _call(lambda: self.engine.artifact(id)), detail, ARTIFACT_KEEP)

    def record_selection(
        self,
        query: Annotated[str, Field(min_length=1, description="the user's need, as searched")],
        artifact: Annotated[str, Field(min_length=1, description="the chosen artifact: id or name")],
        token: Annotated[Optional[str], Field(description="the write token (not needed when sent as an "
                                                          "HTTP Authorization: Bearer header)")] = None,
        tool: Annotated[Optional[str], Field(min_length=1, description=(
            "which of the artifact's capabilities was used: a capability id, or an MCP tool's name "
            "(as search returned it); teaches the graph which tool serves this need"))] = None,
        ctx: Context = None,
    ) -> SelectionRecorded:
        engine = self.engine
        request = _http_request(ctx)
        check_token(engine, token or _bearer(request), self.guard, request)
        limits = engine.config["limits"]
        _call(lambda: check_query(query, "query", limits["query_length"]))  # as a search could record it
        _call(lambda: check_length("record_selection", "tool", tool, limits["name_length"]))
        chosen = _call(lambda: engine.resolve(artifact, "artifact"))
        event = {"query": query, "artifact_id": chosen.id, "kind": "select"}
        if tool is not None:
            event["capability_id"] = capability_named(chosen, tool)
        counts = _call(lambda: engine.add_events([event]))
        return SelectionRecorded(query=query, artifact_id=chosen.id, capability_id=event.get("capability_id"),
                                 **counts)
