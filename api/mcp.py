"""matchgraph over the Model Context Protocol: the engine's search, compare, similar and artifact
as MCP tools for AI agents, plus `record_selection` (token-protected) to teach the match graph.

One server definition (`create_mcp_server`), two transports (api/mcp_transport.py):

- stdio, for desktop agents: `matchgraph mcp [--home DIR]` (`run_stdio`);
- streamable HTTP at `/mcp` inside `matchgraph serve` (`create_mcp_http`, mounted by api/app.py).

What each tool is for is declared here (`TOOLS`); its arguments and handler are in
api/mcp_tools.py, its compact and full result shapes in api/mcp_views.py.
"""

import logging
import time
from typing import Any, Callable

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import ToolAnnotations
from pydantic import ValidationError

from matchgraph.core.validation import problems_of
from matchgraph.engine.engine import Engine

from .guard import ClientGuard
from .mcp_tools import SelectionRecorded, Tools
from .mcp_views import ArtifactOut, ComparisonOut, SearchOut, SimilarOut, ToolSearchOut, one_line

INSTRUCTIONS = """\
matchgraph finds AI models, tools, APIs, datasets and apps by what they can do, and compares them.
Typical flow: `search` with the user's need in their own words -> `artifact` for one candidate's
details, or `compare` for two candidates ("A vs B") -> `similar` for alternatives. Artifacts are
named by id (e.g. microsoft/trocr-base-handwritten); a unique name or unambiguous fuzzy name also
works. Results are compact by default; pass detail=true for the full document. When the user
settles on an artifact for a need, `record_selection` (needs the server's write token) teaches
the match graph."""


READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
RECORDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                          open_world_hint=False)  # stores events (a search records its results)

# name -> (title, description, hints): what an agent reads to choose a tool (handlers: mcp_tools.Tools)
TOOLS: dict[str, tuple[str, str, ToolAnnotations]] = {
    "search": (
        "Search models and tools by capability",
        "Find AI models, tools, APIs, datasets or apps that can do what the user needs. "
        "Use this FIRST whenever the user describes a task in words (\"read handwritten "
        "letters\", \"make a picture from a sentence\") and you need candidates or an id. "
        "Returns ranked artifacts, each with the capability that matched, its rank out of "
        "100 and a one-line reason. Filters narrow by kind, pricing or task. The search is "
        "recorded in the match graph unless record=false.",
        RECORDS),
    "find_tools": (
        "Find the tool to call",
        "Find the callable tools (MCP tools, OpenAPI operations) that do what you need, ranked "
        "one by one (several tools of one server may come back), each with how to call it: "
        "`tool.server` (command line or URL), `tool.name` and `tool.input_schema`, or for an "
        "API operation `tool.method`, `tool.path` and the base URL in `tool.server`. Use it "
        "when you need to act (\"what time is it in Tokyo\", \"which files did I change\") "
        "rather than to compare products. `max_tokens` fits the answer to your budget. "
        "After using a tool, `record_selection` with its `tool` name teaches the ranking.",
        RECORDS),
    "compare": (
        "Compare two artifacts (A vs B)",
        "Compare two artifacts side by side: a table (Type, Rank, Adoption, Quality, "
        "Ecosystem, Match Graph, Pricing, Capabilities, Times Matched), a verdict sentence, "
        "the capabilities they share and those unique to each, and the past queries that "
        "matched both. Use when the user weighs two candidates (\"X vs Y\", \"which is "
        "better for ...\"); name them by id (from search) or by name.",
        READ_ONLY),
    "similar": (
        "Find similar capabilities or alternatives",
        "Find alternatives: give `artifact` (optionally one of its `capability` ids) to get "
        "its nearest capabilities elsewhere and its most similar artifacts, or give `text` "
        "(a capability described in words) to get the closest capabilities in the catalog. "
        "Use when the user wants \"something like X\" or options beyond the top result.",
        READ_ONLY),
    "artifact": (
        "Artifact details",
        "Everything about one artifact: catalog record, scores out of 100 (adoption, "
        "quality, ecosystem, match graph, freshness, rank) with the reason for each, Times "
        "Matched, its capabilities, the past queries that matched it and similar artifacts. "
        "Use when the user asks about one specific model or tool, or before recommending it.",
        READ_ONLY),
    "record_selection": (
        "Record the user's selection",
        "Tell matchgraph that the user chose `artifact` for `query` (a select event): it "
        "strengthens that query->artifact edge in the match graph and counts toward Times "
        "Matched. Use only after the user has actually picked an artifact for their need. "
        "Needs the server's write token: the `token` argument, or over HTTP the header "
        "'Authorization: Bearer <token>'; refused when the server has no token configured.",
        RECORDS),
}


class _Server(MCPServer):
    """MCPServer whose argument errors read "search: bad argument: k: Input should be ..."
    (one line per argument) instead of pydantic's multi-line report."""

    observe: Callable[..., None] | None = None  # (tool, arguments, seconds, result=, failed=): /metrics

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        started = time.perf_counter()
        try:
            result = await self._shaped_call(name, arguments, context)
        except Exception:
            if self.observe is not None:
                self.observe(name, arguments, time.perf_counter() - started, failed=True)
            raise
        if self.observe is not None:
            self.observe(name, arguments, time.perf_counter() - started, result=result)
        return result

    async def _shaped_call(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
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


def create_mcp_server(engine: Engine, guard: ClientGuard | None = None,
                      observe: Callable[..., None] | None = None) -> MCPServer:
    """The MCP server over `engine`: tools search, find_tools, compare, similar, artifact,
    record_selection. Over HTTP `guard` refuses write tokens from a client that sent too many wrong
    ones; `observe` (api.metrics.Metrics.observe_tool) hears every tool call."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    server = _Server("matchgraph", title="matchgraph", version="0.1.0", instructions=INSTRUCTIONS,
                       log_level="WARNING")
    root.handlers[:], root.level = saved  # the SDK calls logging.basicConfig: keep the host's logging
    server.observe = observe
    tools = Tools(engine, guard)
    for name, (title, description, hints) in TOOLS.items():
        server.add_tool(getattr(tools, name), name=name, title=title, description=description,
                        annotations=hints)
    return server


__all__ = ["create_mcp_server", "TOOLS", "INSTRUCTIONS", "SearchOut", "ComparisonOut", "ArtifactOut",
           "SimilarOut", "ToolSearchOut", "SelectionRecorded", "one_line"]
