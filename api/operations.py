"""/healthz, /readyz and /metrics: what probes and scrapers read, never waiting for a load."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .metrics import CONTENT_TYPE
from .models import ErrorBody, Health, Ready
from .security import public_model, public_text

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready,
            responses={503: {"model": ErrorBody, "description": "no index loaded yet"}},
            summary="An index is loaded; reports its version")
def readyz(request: Request):
    """Ready only while a search would succeed without waiting: a state and its model are loaded,
    it has artifacts, and the store answers (a recorded search writes to it)."""
    service = request.app.state.service
    engine = service.engine
    seen = engine.overview(load=False)
    if (seen is None or seen.model not in service.warmed) and not service.background:
        service.touch()  # nothing loads them in the background: load now
        seen = engine.overview(load=False)
    problem = None
    if seen is None:
        problem = service.load_error or "loading the index"
    elif seen.model not in service.warmed:
        problem = service.load_error or "loading the model"
    elif not seen.artifacts:
        problem = f"index version {seen.index_version} has no artifacts"
    else:
        try:
            engine.store.ping()
        except Exception as exc:  # any driver error: searches that record would fail too
            problem = f"the store does not answer: {type(exc).__name__}"
    if problem is not None:
        body = ErrorBody(error="not_ready", status=503, message=public_text(problem, engine.home))
        return JSONResponse(body.model_dump(), status_code=503)
    return Ready(status="ready", index_version=seen.index_version, model=public_model(seen.model),
                 artifacts=seen.artifacts, capabilities=seen.capabilities, queries=seen.queries,
                 refresh_error=public_text(service.load_error, engine.home))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
