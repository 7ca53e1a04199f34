"""The FastAPI app: one Engine, JSON API under /api, HTML pages, /healthz, /readyz, /metrics.

Swaps are safe by construction: the engine keeps what a request reads (index, graph, scores) in
one immutable State object and replaces it whole, so a request holding the old state finishes on
it. A background thread keeps the state fresh (new index versions, new events every
graph.refresh_seconds, an adapter refit every search.adapter_refit_seconds); once it runs,
requests never build: they read the state in place, whatever the thread is doing.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchgraph.engine import Engine
from matchgraph.errors import MatchgraphError, NoIndex, ValidationFailed
from matchgraph.validation import problems_of

from .guard import ClientGuard
from .metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from .models import ErrorBody, EventsIn, Health, Ready
from .web import templates_env, wants_json

log = logging.getLogger("matchgraph.api")
HERE = Path(__file__).resolve().parent


class Service:
    """The engine plus what the server adds around it: warm-up, background refresh, a reindex lock."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.reindex_lock = threading.Lock()
        self.load_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        refresh = self.engine.refresh_seconds or 0
        return max(0.5, min(float(refresh), 5.0)) if refresh else 2.0

    def touch(self) -> None:
        """Load or refresh the state now if it is stale (a no-op when fresh)."""
        try:
            self.engine.refresh_if_stale()
            self.load_error = None
        except NoIndex as exc:
            self.load_error = str(exc)
        except Exception as exc:  # keep serving the previous state; report it on /readyz
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("refreshing the index failed; still serving the previous state")

    def start(self) -> None:
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


# Pages load scripts and styles from /static only; inline style attributes (score bars) are the
# one exception. /docs and /redoc (FastAPI's Swagger UI and ReDoc, from a CDN) keep their own.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"), (b"cross-origin-opener-policy", b"same-origin")]


class SecurityHeadersMiddleware:
    """The usual security headers on every response, and a Content-Security-Policy on pages."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "").startswith(("/docs", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                media = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if media.startswith(b"text/html") and not docs:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def public_text(text: str, engine: Engine) -> str:
    """`text` without the server's folders: a public response names the home folder as <home>."""
    return text.replace(str(engine.home), "<home>") if text else text


def public_model(name: str | None) -> str | None:
    """A model named by a local path is shown by its last part only."""
    return Path(name).name if name and ("/" in name or "\\" in name) and Path(name).is_absolute() else name


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics", "/api") \
        or wants_json(request)


# HTTP status of each engine error code (MatchgraphError.code); any other code is a 400.
STATUS = {"not_found": 404, "ambiguous": 409, "invalid": 422, "no_index": 503, "schema_outdated": 503}


def error_body(exc: MatchgraphError) -> ErrorBody:
    """The JSON body of an engine error: its code, one-line message and parameter, as data."""
    return ErrorBody(error=exc.code, status=STATUS.get(exc.code, 400), message=exc.summary,
                     parameter=exc.parameter, problems=getattr(exc, "problems", []),
                     candidates=getattr(exc, "candidates", []))


def create_app(home: str | Path | None = None, *, engine: Engine | None = None,
               overrides: dict | None = None, refresh_seconds: float | None = None,
               background: bool = True, mcp: bool = True, host: str | None = None) -> FastAPI:
    """The app over `engine`, or over a new Engine on `home` (refresh interval from config
    graph.refresh_seconds unless `refresh_seconds` is given). `background=False` skips the
    warm-up/refresh thread (tests that want full control); `mcp` mounts the MCP streamable-HTTP
    endpoint at /mcp; `host` is the address served (loopback enables MCP's DNS-rebinding guard)."""
    engine = engine or Engine(home, overrides, refresh_seconds=refresh_seconds)
    service = Service(engine)
    metrics = Metrics(engine)
    mcp_http = None
    if mcp:
        from .mcp import create_mcp_http

        mcp_http = create_mcp_http(engine, host=host)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if background:
            service.start()
        try:
            if mcp_http is not None:
                async with mcp_http.lifespan():
                    yield
            else:
                yield
        finally:
            service.stop()

    app = FastAPI(
        title="matchgraph",
        version="0.1.0",
        description="Graph-backed search and match engine for AI models and tools. Read endpoints "
                    "are public; POST endpoints need `Authorization: Bearer <MATCHGRAPH_TOKEN>` and "
                    "are off when no token is configured. Errors are JSON: "
                    "`{error, status, message, parameter, problems, candidates}`.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.templates = Jinja2Templates(env=templates_env())
    app.state.guard = ClientGuard(engine.config["server"])

    app.add_middleware(BodyLimitMiddleware, max_bytes=int(engine.config["server"]["max_body_bytes"]))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def render_error(request: Request, body: ErrorBody, headers: dict[str, str] | None = None) -> Response:
        headers = dict(headers or {})
        body = body.model_copy(update={"message": public_text(body.message, engine),
                                       "problems": [public_text(p, engine) for p in body.problems or []]
                                       or body.problems})
        if body.status == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        if _is_api(request):
            return JSONResponse(body.model_dump(), status_code=body.status, headers=headers or None)
        path = request.url.path
        suggest = path[3:].replace("-", " ").replace("/", " ").strip() \
            if body.status == 404 and path.startswith("/a/") else None
        context = {"error": body, "title": f"{body.status}", "suggest": suggest,
                   "json_url": str(request.url.include_query_params(format="json"))}
        return app.state.templates.TemplateResponse(request, "error.html", context, status_code=body.status,
                                                    headers=headers or None)

    @app.exception_handler(MatchgraphError)
    async def matchgraph_error(request: Request, exc: MatchgraphError):
        return render_error(request, error_body(exc))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError):
        # FastAPI heads each location with where the value came from; "body" alone stays
        errors = [{**err, "loc": tuple(err.get("loc", ()))[1:]} if len(err.get("loc", ())) > 1 else err
                  for err in exc.errors()]
        return render_error(request, error_body(ValidationFailed("request", problems_of(errors, default_field="body"))))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        code = getattr(exc, "code", None)
        codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                 409: "conflict", 413: "too_large", 415: "unsupported_media_type", 503: "unavailable"}
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such page or endpoint: {request.url.path}"
        if exc.status_code == 405 and detail == "Method Not Allowed":
            allowed = (getattr(exc, "headers", None) or {}).get("Allow")
            detail = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
        # keep the headers the exception carries (405: Allow, as RFC 9110 requires)
        return render_error(request, ErrorBody(error=code or codes.get(exc.status_code, "error"),
                                               status=exc.status_code, message=detail),
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return render_error(request, ErrorBody(error="internal", status=500,
                                               message=f"internal error: {type(exc).__name__}"))

    # -- operations ---------------------------------------------------------------------------
    @app.get("/healthz", response_model=Health, tags=["operations"], summary="The process is up")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, tags=["operations"],
             responses={503: {"model": ErrorBody, "description": "no index loaded yet"}},
             summary="An index is loaded; reports its version")
    def readyz():
        """Ready only while a search would succeed: a state is loaded, it has artifacts, and the
        store answers (a recorded search writes to it)."""
        seen = engine.overview(load=False)
        if seen is None and not background:
            service.touch()
            seen = engine.overview(load=False)
        problem = None
        if seen is None:
            problem = service.load_error or "loading the index"
        elif not seen.artifacts:
            problem = f"index version {seen.index_version} has no artifacts"
        else:
            try:
                engine.store.ping()
            except Exception as exc:  # any driver error: searches that record would fail too
                problem = f"the store does not answer: {type(exc).__name__}"
        if problem is not None:
            body = ErrorBody(error="not_ready", status=503, message=public_text(problem, engine))
            return JSONResponse(body.model_dump(), status_code=503)
        return Ready(status="ready", index_version=seen.index_version, model=public_model(seen.model),
                     artifacts=seen.artifacts, capabilities=seen.capabilities, queries=seen.queries,
                     refresh_error=public_text(service.load_error, engine))

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
    def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    from .pages import router as pages_router
    from .routes import router as api_router

    app.include_router(api_router)
    app.include_router(pages_router)
    if mcp_http is not None:
        app.router.routes.append(mcp_http.route)

    generate_openapi = app.openapi

    def openapi() -> dict:
        """POST /api/events parses its body by hand (the token is checked first); its schema is
        added to the components here so that /openapi.json still describes every field."""
        if app.openapi_schema is None:
            schema = generate_openapi()
            events = EventsIn.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(events.pop("$defs", {}))
            components["EventsIn"] = events
        return app.openapi_schema

    app.openapi = openapi
    return app

