"""Prometheus metrics: request counts and latency by route template, plus index and store gauges.

Every app gets its own CollectorRegistry so several apps (tests) never collide. The gauges are
read from the engine at scrape time (a custom collector), so they are never stale.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
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


class Metrics:
    """The app's registry: request counters and, with an `engine` (matchgraph.Engine), its gauges."""

    def __init__(self, engine=None):
        self.registry = CollectorRegistry()
        self.requests = Counter("matchgraph_http_requests", "HTTP requests by route template",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("matchgraph_http_request_duration_seconds",
                                 "HTTP request latency by route template", ["method", "route"],
                                 buckets=BUCKETS, registry=self.registry)
        if engine is not None:
            self.registry.register(EngineCollector(engine))

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

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
