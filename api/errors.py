"""How the app answers any error: a JSON ErrorBody on the API (and on a page asked for as JSON),
the error page otherwise. Engine errors arrive shaped already (code, message, parameter:
matchgraph.core.errors); this module only picks their HTTP status."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from matchgraph.core.errors import MatchgraphError, ValidationFailed
from matchgraph.core.validation import problems_of

from .models import ErrorBody
from .security import public_text
from .web import wants_json

log = logging.getLogger("matchgraph.api")

# HTTP status of each engine error code (MatchgraphError.code); any other code is a 400.
STATUS = {"not_found": 404, "ambiguous": 409, "invalid": 422, "no_index": 503, "schema_outdated": 503}
# ErrorBody.error of an HTTP error raised without a code of its own
HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              409: "conflict", 413: "too_large", 415: "unsupported_media_type", 503: "unavailable"}


def error_body(exc: MatchgraphError) -> ErrorBody:
    """The JSON body of an engine error: its code, one-line message and parameter, as data."""
    return ErrorBody(error=exc.code, status=STATUS.get(exc.code, 400), message=exc.summary,
                     parameter=exc.parameter, problems=getattr(exc, "problems", []),
                     candidates=getattr(exc, "candidates", []))


def is_api(request: Request) -> bool:
    """Whether the answer is JSON: the API, the operations endpoints, a page's JSON twin."""
    path = request.url.path
    return path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics", "/api") \
        or wants_json(request)


def render_error(request: Request, body: ErrorBody, headers: dict[str, str] | None = None) -> Response:
    headers = dict(headers or {})
    home = request.app.state.engine.home
    body = body.model_copy(update={"message": public_text(body.message, home),
                                   "problems": [public_text(p, home) for p in body.problems or []]
                                   or body.problems})
    if body.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if is_api(request):
        return JSONResponse(body.model_dump(), status_code=body.status, headers=headers or None)
    path = request.url.path
    suggest = path[3:].replace("-", " ").replace("/", " ").strip() \
        if body.status == 404 and path.startswith("/a/") else None
    context = {"error": body, "title": f"{body.status}", "suggest": suggest,
               "json_url": str(request.url.include_query_params(format="json"))}
    return request.app.state.templates.TemplateResponse(request, "error.html", context, status_code=body.status,
                                                        headers=headers or None)


async def engine_error(request: Request, exc: MatchgraphError) -> Response:
    return render_error(request, error_body(exc))


async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
    """A parameter FastAPI refused, in the engine's shape: each location loses its head (where
    the value came from: query, path, body), except a bare "body"."""
    errors = [{**err, "loc": tuple(err.get("loc", ()))[1:]} if len(err.get("loc", ())) > 1 else err
              for err in exc.errors()]
    return render_error(request, error_body(ValidationFailed("request", problems_of(errors, default_field="body"))))


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such page or endpoint: {request.url.path}"
    if exc.status_code == 405 and detail == "Method Not Allowed":
        allowed = (getattr(exc, "headers", None) or {}).get("Allow")
        detail = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
    code = getattr(exc, "code", None) or HTTP_CODES.get(exc.status_code, "error")
    # keep the headers the exception carries (405: Allow, as RFC 9110 requires)
    return render_error(request, ErrorBody(error=code, status=exc.status_code, message=detail),
                        headers=getattr(exc, "headers", None))


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path)
    return render_error(request, ErrorBody(error="internal", status=500,
                                           message=f"internal error: {type(exc).__name__}"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MatchgraphError, engine_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
