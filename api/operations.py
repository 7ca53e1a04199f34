"""/healthz, /readyz and /metrics: what probes and scrapers read, never waiting for a load."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .metrics import CONTENT_TYPE
from .models import ErrorBody, Health, Ready

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready,
            responses={503: {"model": ErrorBody, "description": "no index loaded yet"}},
            summary="An index is loaded; reports its version")
def readyz(request: Request):
    service = request.app.state.service
    seen = service.engine.overview(load=False)
    if seen is None and not service.background:  # nothing loads it in the background: load now
        service.touch()
        seen = service.engine.overview(load=False)
    if seen is None:
        message = service.load_error or "loading the index"
        return JSONResponse(ErrorBody(error="not_ready", status=503, message=message).model_dump(),
                            status_code=503)
    return Ready(status="ready", index_version=seen.index_version, model=seen.model,
                 artifacts=seen.artifacts, capabilities=seen.capabilities, queries=seen.queries,
                 refresh_error=service.load_error)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
