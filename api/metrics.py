"""Prometheus metrics: request counts and latency by route template (mounted static files and the
MCP endpoint included), searches (latency, recorded or not and why) and MCP tool calls by tool name,
plus index and store gauges.

Every app gets its own CollectorRegistry so several apps (tests) never collide. The gauges are
read from the engine at scrape time (a custom collector), so they are never stale.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class EngineCollector:
    """index version, catalog size, events stored and graph size, read when /metrics is scraped."""

    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        engine = self.engine
        ready = GaugeMetricFamily("matchgraph_index_loaded", "1 when an index is loaded and served")
        version = GaugeMetricFamily("matchgraph_index_version", "version of the index being served")
        artifacts = GaugeMetricFamily("matchgraph_catalog_artifacts", "artifacts in the served catalog")
        capabilities = GaugeMetricFamily("matchgraph_catalog_capabilities",
                                         "decomposed capabilities in the served catalog")
        events = GaugeMetricFamily("matchgraph_events_stored", "search and feedback events in the store")
        queries = GaugeMetricFamily("matchgraph_graph_queries", "merged past queries in the match graph")
        seen = engine.overview(load=False)  # a scrape never waits for a load
        ready.add_metric([], 1 if seen is not None else 0)
        yield ready
        if seen is not None:
            version.add_metric([], seen.index_version)
            artifacts.add_metric([], seen.artifacts)
            capabilities.add_metric([], seen.capabilities)
            queries.add_metric([], seen.queries)
            yield version
            yield artifacts
            yield capabilities
            yield queries
        try:
            events.add_metric([], engine.events_stored())
            yield events
        except Exception:  # a store outage must not break the scrape
            pass


def search_reason(recorded: bool, asked: bool, found: bool, refused: str | None = None) -> str:
    """Why a search was or was not stored as match events: recorded, not_asked (record=false),
    the guard's reason (cross-site, rate-limit) or no_results."""
    if recorded:
        return "recorded"
    if not asked:
        return "not_asked"
    return refused or ("no_results" if not found else "not_recorded")


class Metrics:
    """The app's registry: request counters and, with an `engine` (matchgraph.Engine), its gauges."""

    def __init__(self, engine=None):
        self.registry = CollectorRegistry()
        self.requests = Counter("matchgraph_http_requests", "HTTP requests by route template",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("matchgraph_http_request_duration_seconds",
                                 "HTTP request latency by route template", ["method", "route"],
                                 buckets=BUCKETS, registry=self.registry)
        self.searches = Counter("matchgraph_searches", "searches by face (api, page, mcp), whether their top "
                                "results were stored as match events, and why not (not_asked: record=false; "
                                "no_results; cross-site, rate-limit: the client guard)",
                                ["face", "recorded", "reason"], registry=self.registry)
        self.search_latency = Histogram("matchgraph_search_duration_seconds", "time in the engine's search, by face",
                                        ["face"], buckets=BUCKETS, registry=self.registry)
        self.tool_calls = Counter("matchgraph_mcp_tool_calls", "MCP tool calls by tool name and outcome (ok, error)",
                                  ["tool", "outcome"], registry=self.registry)
        self.tool_latency = Histogram("matchgraph_mcp_tool_duration_seconds", "MCP tool call latency by tool name",
                                      ["tool"], buckets=BUCKETS, registry=self.registry)
        self.routes: list[BaseRoute] = []  # the app's routes: names requests no route object labels
        if engine is not None:
            self.registry.register(EngineCollector(engine))

    def observe_search(self, face: str, seconds: float, recorded: bool, reason: str) -> None:
        self.searches.labels(face, "true" if recorded else "false", reason).inc()
        self.search_latency.labels(face).observe(seconds)

    def observe_tool(self, tool: str, arguments: dict, seconds: float, result=None, failed: bool = False) -> None:
        """An MCP tool call (api.mcp's observer); a search tool's call counts as a search too."""
        self.tool_calls.labels(tool, "error" if failed or getattr(result, "is_error", False) else "ok").inc()
        self.tool_latency.labels(tool).observe(seconds)
        if tool == "search" and not failed and not getattr(result, "is_error", False):
            found = getattr(result, "structured_content", None) or {}
            recorded = bool(found.get("recorded"))
            reason = search_reason(recorded, arguments.get("record", True), bool(found.get("results")))
            self.observe_search("mcp", seconds, recorded, reason)

    def route_of(self, scope: Scope) -> str:
        """The template of the route that answered: FastAPI routes name themselves in the scope;
        mounts (/static, /docs/assets) and plain routes (/mcp) are matched here."""
        route = scope.get("route")
        if getattr(route, "path", None):
            return route.path
        for candidate in self.routes:
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                path = getattr(candidate, "path", "") or "unmatched"
                return path + "/{path}" if isinstance(candidate, Mount) else path
        return "unmatched"

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: labels by the matched route's template, never by the raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        asked = {"type": "http", "path": scope.get("path", ""), "method": scope.get("method", "GET"),
                 "root_path": scope.get("root_path", "")}  # before a mount rewrites the scope

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = self.metrics.route_of(scope if scope.get("route") else asked)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
            search = (scope.get("state") or {}).get("search")
            if search is not None:  # set by the search route and page (api.routes.timed_search)
                self.metrics.observe_search(**search)
