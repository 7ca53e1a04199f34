"""The FastAPI app: one Engine, JSON API under /api, HTML pages, /healthz, /readyz, /metrics, MCP.

Swaps are safe by construction: the engine keeps what a request reads (index, graph, scores) in
one immutable State object and replaces it whole, so a request holding the old state finishes on
it. A background thread keeps the state fresh (new index versions, new events every
graph.refresh_seconds, an adapter refit every search.adapter_refit_seconds); once it runs,
requests never build: they read the state in place, whatever the thread is doing (only the very
first load, before any state exists, is waited for).

The routes live by concept: routes.py (the JSON API), pages.py (HTML), operations.py (probes and
metrics); errors.py answers every error; this module wires them to one engine.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchgraph.core.errors import NoIndex
from matchgraph.engine.engine import Engine

from .docs import install_docs
from .errors import install_error_handlers
from .guard import ClientGuard
from .metrics import Metrics, MetricsMiddleware
from .models import ErrorBody, EventsIn
from .operations import router as operations_router
from .pages import router as pages_router
from .routes import router as api_router
from .security import SecurityHeadersMiddleware
from .web import templates_env

log = logging.getLogger("matchgraph.api")
HERE = Path(__file__).resolve().parent
DESCRIPTION = ("Graph-backed search and match engine for AI models and tools. Read endpoints are public; "
               "POST endpoints need `Authorization: Bearer <MATCHGRAPH_TOKEN>` and are off when no token "
               "is configured. Errors are JSON: `{error, status, message, parameter, problems, candidates}`.")


class Service:
    """The engine plus what the server adds around it: warm-up, background refresh, a reindex lock."""

    def __init__(self, engine: Engine, background: bool = True):
        self.engine = engine
        self.background = background  # False: nothing refreshes in the background (tests)
        self.reindex_lock = threading.Lock()
        self.load_error: str | None = None
        self.warmed: set[str] = set()  # models that have encoded once in this process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        refresh = self.engine.refresh_seconds or 0
        return max(0.5, min(float(refresh), 5.0)) if refresh else 2.0

    def touch(self) -> None:
        """Load or refresh the state now if it is stale (a no-op when fresh), and its model."""
        try:
            state = self.engine.refresh_if_stale()
            self._warm(state.index.manifest["model"])
            self.load_error = None
        except NoIndex as exc:
            self.load_error = str(exc)
        except Exception as exc:  # keep serving the previous state; report it on /readyz
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("refreshing the index failed; still serving the previous state")

    def _warm(self, model: str) -> None:
        """Load the model before a search needs it: a state loads without it when every vector it
        needs is cached, and the first request then waited seconds for it."""
        if model not in self.warmed:
            self.engine.embedder(model).encode_query("warm up")
            self.warmed.add(model)

    def start(self) -> None:
        if not self.background:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self.touch()
                self._stop.wait(self.interval)

        self.engine.background_refresh = True  # from now on only this thread builds states
        self._thread = threading.Thread(target=loop, name="matchgraph-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.engine.background_refresh = False
        if self._thread is not None:
            self._thread.join(timeout=10)


class BodyLimitMiddleware:
    """413 for request bodies over `max_bytes`, by Content-Length or by counting a streamed body."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        payload = ErrorBody(error="too_large", status=413, parameter="body",
                            message=f"request body too large: the limit is {self.max_bytes} bytes "
                                    "(config server.max_body_bytes)").model_dump_json().encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def create_app(home: str | Path | None = None, *, engine: Engine | None = None,
               overrides: dict | None = None, refresh_seconds: float | None = None,
               background: bool = True, mcp: bool = True, host: str | None = None) -> FastAPI:
    """The app over `engine`, or over a new Engine on `home` (refresh interval from config
    graph.refresh_seconds unless `refresh_seconds` is given). `background=False` skips the
    warm-up/refresh thread (tests that want full control); `mcp` mounts the MCP streamable-HTTP
    endpoint at /mcp; `host` is the address served (loopback enables MCP's DNS-rebinding guard)."""
    engine = engine or Engine(home, overrides, refresh_seconds=refresh_seconds)
    service = Service(engine, background)
    # one per app: the API's and MCP's budgets and token failures, the budgets shared through the store
    guard = ClientGuard(engine.config["server"], engine.store.recorded_searches)
    metrics = Metrics(engine)
    mcp_http = None
    if mcp:
        from .mcp_transport import create_mcp_http

        mcp_http = create_mcp_http(engine, host=host, guard=guard, observe=metrics.observe_tool)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            if mcp_http is not None:
                async with mcp_http.lifespan():
                    yield
            else:
                yield
        finally:
            service.stop()

    app = FastAPI(title="matchgraph", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # /docs: install_docs (no CDN)
    app.state.service = service
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.templates = Jinja2Templates(env=templates_env())
    app.state.guard = guard

    app.add_middleware(BodyLimitMiddleware, max_bytes=int(engine.config["server"]["max_body_bytes"]))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    install_docs(app)
    for router in (operations_router, api_router, pages_router):
        app.include_router(router)
    if mcp_http is not None:
        app.router.routes.append(mcp_http.route)
    metrics.routes = app.router.routes  # labels /static, /docs/assets and /mcp requests by their route
    _document_events_body(app)
    return app


def _document_events_body(app: FastAPI) -> None:
    """POST /api/events parses its body by hand (the token is checked first); its schema is
    added to the components so that /openapi.json still describes every field."""
    generate_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate_openapi()
            events = EventsIn.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(events.pop("$defs", {}))
            components["EventsIn"] = events
        return app.openapi_schema

    app.openapi = openapi
