"""Shapes only the HTTP layer has (errors, health, write bodies); the rest is matchgraph.core.results."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from matchgraph.core.events import EventIn


class ErrorBody(BaseModel):
    """Every error the API returns."""

    error: str = Field(description="short code: not_found, ambiguous, invalid, too_large, unauthorized, "
                                   "forbidden, writes_disabled, no_index, not_ready, internal")
    status: int = Field(description="the HTTP status, repeated")
    message: str = Field(description="what went wrong, in words")
    parameter: str | None = Field(default=None, description="the request parameter at fault, when there is one")
    problems: list[str] = Field(default=[], description="every problem found, 'parameter: why'")
    candidates: list[str] = Field(default=[], description="artifact ids an ambiguous name could mean")


class Health(BaseModel):
    status: str = Field(description="'ok' while the process is up")


class Ready(BaseModel):
    status: str = Field(description="'ready' once an index is loaded")
    index_version: int = Field(description="version of the index being served")
    model: str | None = Field(description="embedding model of that index")
    artifacts: int
    capabilities: int
    queries: int = Field(description="merged past queries in the match graph")
    refresh_error: str | None = Field(default=None, description="last refresh failure, if the server "
                                                                "is still serving an older state")


class EventsIn(BaseModel):
    """Body of POST /api/events: a batch, accepted or rejected whole; idempotent by event_id."""

    events: list[EventIn] = Field(min_length=1, description="search/feedback events, e.g. "
                                  '{"query": "read handwritten letters", "artifact_id": '
                                  '"microsoft/trocr-base-handwritten", "kind": "select"}')


class EventsResult(BaseModel):
    received: int
    new: int = Field(description="events stored now")
    duplicates: int = Field(description="events already stored (same event_id), counted once")


class IndexSummary(BaseModel):
    version: int = Field(description="the newly published index version")
    artifacts: int
    capabilities: int
    embedded: int = Field(description="capability texts embedded now")
    cached: int = Field(description="capability texts taken from the embedding cache")
    model: str


class GraphNode(BaseModel):
    id: str = Field(description="'q:<query>', 'c:<artifact>#<capability>' or 'a:<artifact>'")
    type: str = Field(description="query, capability or artifact")
    label: str
    model_config = {"extra": "allow"}


class GraphEdge(BaseModel):
    source: str
    target: str
    relation: str | None = Field(default=None, description="matched (query->artifact), matched_capability (query->capability), capability_of (capability->artifact)")
    matches: int | None = None
    selects: int | None = None
    weight: float | None = None
    model_config = {"extra": "allow"}


class GraphView(BaseModel):
    """The match graph around `ego` (or the heaviest part of the whole graph), for drawing."""

    ego: str | None = Field(description="graph node id the view is centred on")
    radius: int
    min_weight: float
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = Field(default=False, description="true when the view was cut to `limit` nodes")
    total: int | None = Field(default=None, description="nodes in this part of the graph before the cut")


class Stats(BaseModel):
    model_config = {"extra": "allow"}
    index_version: int
    artifacts: int
    capabilities: int
    events: int
    queries: int


def jsonable(data: Any) -> Any:
    return data.model_dump(mode="json") if hasattr(data, "model_dump") else data
