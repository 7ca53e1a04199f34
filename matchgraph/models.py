"""Pydantic shapes of what the engine returns; the JSON API, the CLI's --json and MCP share them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Signals(BaseModel):
    """How much each signal added to a result's score (already weighted)."""

    dense: float = Field(description="best capability cosine plus mean of the top-3, weighted")
    bm25: float = Field(description="BM25 over name, tags and capability text, max-normalized, weighted")
    name: float = Field(description="fuzzy match of the query against name and id, weighted")
    graph: float = Field(description="match-graph signal from similar past queries, weighted and gated")
    prior: float = Field(description="the artifact's rank/100, weighted: a tie-breaker")


class PastQuery(BaseModel):
    query: str
    similarity: float
    matches: int
    selects: int


class SearchResult(BaseModel):
    artifact_id: str
    name: str
    kind: str
    pricing: str
    task: str | None
    rank: int = Field(description="composite rank out of 100")
    score: float = Field(description="fused relevance score of this search (higher is better)")
    position: int = Field(description="1-based position in the results")
    matched_capability: str | None = Field(description="id of the capability that matched best")
    matched_capability_title: str | None
    similarity: float = Field(description="cosine of the query and the matched capability")
    explanation: str
    signals: Signals
    past_queries: list[PastQuery] = []


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    recorded: bool = Field(description="whether match events were stored for this search")


class ScoreCard(BaseModel):
    adoption: int
    quality: int
    ecosystem: int
    match_graph: int
    freshness: int
    rank: int
    times_matched: int
    explanations: dict[str, str]


class ArtifactDetail(BaseModel):
    artifact: dict[str, Any]
    scores: ScoreCard
    queries: list[PastQuery] = Field(description="past queries that matched this artifact, most first")
    similar: list[dict[str, Any]] = []
