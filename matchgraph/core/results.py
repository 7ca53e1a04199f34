"""Pydantic shapes of what the engine returns; the JSON API, the CLI's --json and MCP share them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .catalog import ToolRef


class Signals(BaseModel):
    """How much each signal added to a result's score (already weighted)."""

    dense: float = Field(description="best capability cosine plus mean of the top-3, weighted")
    bm25: float = Field(description="BM25 over name, tags and capability text, max-normalized, weighted")
    name: float = Field(description="fuzzy match of the query against name and id, weighted")
    graph: float = Field(description="match-graph signal, weighted: from similar past queries (gated by "
                               "relevance) and from what was selected for this same request asked before")
    prior: float = Field(description="the artifact's rank/100, weighted: a tie-breaker")


class PastQuery(BaseModel):
    query: str
    similarity: float
    matches: int
    selects: int


class Reason(BaseModel):
    """Why a search result matched, as data; each face (CLI, pages, MCP) words it with `sentence`."""

    signal: Literal["dense", "bm25", "name", "graph"] = Field(
        description="the signal that added most to the score (prior is a tie-breaker, never the reason)")
    capability_title: str | None = Field(description="title of the capability that matched best")
    similarity: float = Field(description="cosine of the query and that capability")
    task: str | None = Field(description="the artifact's task (a graph reason may name it)")
    past_queries: list[str] = Field([], description="past queries that led to it, closest first")
    past_selects: int = Field(0, description="times people asking those past queries selected it (0: it "
                                             "was only shown for them)")
    selected_before: int = Field(0, description="times people selected it for this same request asked "
                                                "before (matchgraph/search/asked.py)")

    def sentence(self) -> str:
        """One line, e.g. "Matched because the query names it." """
        if self.selected_before and self.signal == "graph":
            times = "once" if self.selected_before == 1 else f"{self.selected_before} times"
            return f"Matched because people asking this same request selected it ({times})."
        if self.signal == "dense":
            why = f"its capability '{self.capability_title}' is close in meaning (cosine {self.similarity:.2f})"
        elif self.signal == "bm25":
            why = "its name, tags or capability text share the query's words"
        elif self.signal == "name":
            why = "the query names it"
        elif self.past_queries:
            asked = plural(len(self.past_queries), "similar past query", "similar past queries")
            if self.past_selects:
                times = "once" if self.past_selects == 1 else f"{self.past_selects} times"
                why = f"people asking {asked} chose it ({times})"
            else:  # only shown for them: nobody chose it
                why = f"it was shown for {asked} (never chosen yet)"
        else:
            why = f"similar past queries led to {self.task or 'its task'} models"
        return f"Matched because {why}."


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 past query', '2 past queries' ('many' defaults to one + 's')."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


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
    explanation: str = Field(description="the reason sentence, the weighted signals and past queries, as text")
    reason: Reason
    signals: Signals
    past_queries: list[PastQuery] = []
    tool: ToolRef | None = Field(None, description="when the matched capability is an MCP tool: its server, "
                                                   "name and input schema, enough to call it")


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    recorded: bool = Field(description="whether match events were stored for this search")
    omitted: int = Field(0, description="results left out to fit max_tokens")
    trimmed: list[str] = Field([], description="what was cut from results' tool schemas to fit max_tokens")
    tokens: int | None = Field(None, description="estimated tokens of this response (ceil(JSON characters / 4)), "
                                                 "when max_tokens was given")


class ToolResult(BaseModel):
    """One callable unit found by find_tools: which tool, how to call it, and why it matched."""

    tool: ToolRef | None = Field(description="how to call it: server (command line or URL; secrets only as "
                                             "${NAME}), the tool's name and its input schema; for an "
                                             "OpenAPI operation method, path and base URL; for a registry "
                                             "server how to start it and the env vars it needs")
    artifact_id: str = Field(description="the server or API that offers it")
    server_name: str = Field(description="display name of that server or API")
    capability_id: str = Field(description="the capability id (record_selection's `tool` takes it)")
    kind: str = Field(description="tool (MCP), operation (OpenAPI), server (registry), prompt or resource")
    title: str
    description: str = ""
    score: float = Field(description="fused relevance score of this search (higher is better)")
    position: int = Field(description="1-based position in the results")
    similarity: float = Field(description="cosine of the need and the tool's text")
    explanation: str = Field(description="the reason sentence and the weighted signals, as text")
    reason: Reason
    signals: Signals


class ToolSearchResponse(BaseModel):
    need: str
    results: list[ToolResult]
    recorded: bool = Field(description="whether match events were stored for this search")
    omitted: int = Field(0, description="results left out to fit max_tokens")
    trimmed: list[str] = Field([], description="what was cut from results to fit max_tokens, e.g. "
                                               "'2 get_weather: property descriptions'")
    tokens: int | None = Field(None, description="estimated tokens of this response (ceil(JSON characters / 4)), "
                                                 "when max_tokens was given")


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
    artifact: dict[str, Any] = Field(description="the catalog record")
    scores: ScoreCard
    queries: list[PastQuery] = Field(description="past queries that matched this artifact, most first")
    similar: list["SimilarArtifact"] = []


class CapabilityOut(BaseModel):
    id: str
    title: str
    description: str
    unique: str | None = None
    vs_alternatives: str | None = None
    inputs: list[str] = []
    outputs: list[str] = []
    best_for: str | None = None


class TableRow(BaseModel):
    """One row of the "A vs B" table, e.g. {"feature": "Adoption", "a": "71", "b": "40", "leader": "a"}."""

    feature: str
    a: str
    b: str
    leader: str | None = Field(description="'a', 'b', 'tie' or null when the row is not a score")


class AlignedPair(BaseModel):
    a: str = Field(description="capability id on A's side")
    a_title: str
    b: str = Field(description="capability id on B's side")
    b_title: str
    similarity: float


class MatchEvidence(BaseModel):
    """A comparison's match-graph evidence: the past queries behind each side."""

    both: list[PastQuery] = Field(description="past queries that matched both artifacts")
    only_a: list[PastQuery]
    only_b: list[PastQuery]


class Side(BaseModel):
    id: str
    name: str
    kind: str
    pricing: str
    task: str | None
    url: str | None
    scores: ScoreCard
    capabilities: list[CapabilityOut]


class Comparison(BaseModel):
    a: Side
    b: Side
    table: list[TableRow]
    verdict: str
    shared: list[AlignedPair] = Field(description="pairs of close capabilities (shared ground)")
    unique_a: list[CapabilityOut]
    unique_b: list[CapabilityOut]
    evidence: MatchEvidence


class SimilarCapability(BaseModel):
    artifact_id: str
    name: str
    capability_id: str
    title: str
    similarity: float


class SimilarArtifact(BaseModel):
    artifact_id: str
    name: str
    score: float = Field(description="blend of capability similarity and shared-query overlap, 0-1")
    capability_similarity: float
    shared_queries: int


class SimilarResponse(BaseModel):
    query: str = Field(description="the text, or 'artifact[#capability]' that was looked up")
    capabilities: list[SimilarCapability]
    artifacts: list[SimilarArtifact] = Field(description="for an artifact: its most similar artifacts")


ArtifactDetail.model_rebuild()
