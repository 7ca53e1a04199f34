"""The engine's read side: resolve a name, search, an artifact's page, "A vs B", similar
capabilities and artifacts, and the evaluation that runs searches. Mixed into Engine."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.catalog import Artifact
from ..core.errors import NotFound, invalid
from ..core.events import EventIn, check_query, finish, request_part, window_id
from ..core.results import ArtifactDetail, Comparison, ScoreCard, SearchResponse, SimilarResponse
from ..retrieval.ann import float_rows
from ..retrieval.embeddings import Embedder, encode_with
from ..retrieval.needs import search_needs
from ..search.artifacts import search
from ..search.compare import compare, most_matched, queries_of
from ..search.similar import nearest_capabilities, similar_artifacts
from ..store import SQLStore
from .inputs import check_k, check_length, search_filters, similar_input
from .names import resolve_artifact
from .state import State


class Reading:
    """Answers from the served state (mixed into Engine, which provides the attributes below)."""

    config: dict
    store: SQLStore
    state: State  # ServedState.state: loaded or refreshed on access
    embedder: Callable[..., Embedder]  # Engine.embedder(model)
    config_public: Callable[[], dict]  # Engine.config_public

    def resolve(self, name: str, parameter: str | None = None) -> Artifact:
        """Exact id, then unique case-insensitive name, then an unambiguous fuzzy name; an error
        names `parameter`, the input the name came in."""
        return resolve_artifact(self.state.index, name, parameter, self.config["limits"]["name_length"])

    def search(self, query: str, k: int | None = None, kind: str | None = None,
               pricing: str | None = None, task: str | None = None, record: bool = True,
               client: str | None = None) -> SearchResponse:
        """Rank artifacts for `query`; a recorded search stores its top results as match events.

        With `client` (a client key, api/guard.py), those events carry it and their ids are one
        per client, normalized query, artifact and window of server.record_window_seconds: the
        same search repeated by one client within a window is stored once."""
        limits = self.config["limits"]
        query = check_query(query, limit=limits["query_length"])
        check_length("search", "task", task, limits["name_length"])
        k = check_k("search", self.config["search"]["k"] if k is None else k)
        filters = search_filters(kind, pricing, task)
        state = self.state
        request = request_part(query, self.config["search"]["input_markers"])
        embedder = self.embedder(state.index.manifest["model"])
        vector = embedder.encode_query(request)
        results = search_needs(  # a request naming several actions: one ranking per action, merged
            request, vector, k, lambda text, v, n, role: search(
                state.index, state.past(role), v, text, n, filters, self.config, state.rank_column,
                state.adapter, state.graph),  # with no graph there are no seeds, and search uses no adapter
            lambda parts: encode_with(embedder.model, parts), self.config["search"]["needs_min_parts"])
        if record and results:
            now = datetime.now(timezone.utc)
            shown = results[: self.config["search"]["record_top"]]
            events = [finish(EventIn(query=query, artifact_id=r.artifact_id, kind="match", ts=now,
                                     capability_id=r.matched_capability, score=r.score, rank=r.position))
                      for r in shown]
            if client is not None:
                window = self.config["server"]["record_window_seconds"]
                events = [e.model_copy(update={"client": client, "event_id": window_id(
                    client, query, e.artifact_id, now, window)}) for e in events]
            self.store.add_events(events)
        return SearchResponse(query=query, results=results, recorded=bool(record and results))

    def artifact(self, name: str, similar: int = 5, queries: int = 20) -> ArtifactDetail:
        """One artifact: catalog record, scores with explanations, queries that matched it, similar ones."""
        state = self.state
        artifact = self.resolve(name, "id")
        return ArtifactDetail(artifact=artifact.model_dump(mode="json"),
                              scores=ScoreCard(**state.scores[artifact.id]),
                              queries=most_matched(queries_of(state.graph, artifact.id), queries),
                              similar=similar_artifacts(state.index, state.graph, artifact, similar))

    def compare(self, a: str, b: str) -> Comparison:
        """The "A vs B" comparison; artifacts are named by id, name or an unambiguous fuzzy name."""
        for name, value in (("a", a), ("b", b)):
            if not (value or "").strip():
                raise invalid("compare", name, "must not be blank")
        state = self.state
        first, second = self.resolve(a, "a"), self.resolve(b, "b")
        if first.id == second.id:
            raise invalid("compare", "b", f"'{b}' is the same artifact as a ({first.id})")
        return compare(state.index, state.graph, state.scores, first, second, self.config)

    def similar(self, text: str | None = None, artifact: str | None = None,
                capability: str | None = None, k: int = 10) -> SimilarResponse:
        """Nearest capabilities to a text or to an artifact's capability; for an artifact also its
        most similar artifacts (by capabilities and by shared queries)."""
        check_k("similar", k)
        check_length("similar", "text", text, self.config["limits"]["query_length"])
        check_length("similar", "capability", capability, self.config["limits"]["name_length"])
        text, artifact = similar_input(text, artifact, capability)
        state = self.state
        if artifact:
            target = self.resolve(artifact, "artifact")
            if capability:
                if capability not in {c.id for c in target.capabilities}:
                    raise NotFound(f"artifact '{target.id}' has no capability '{capability}'",
                                   parameter="capability")
                vector = state.index.capability_vector(target.id, capability)
            else:
                vector = float_rows(state.index.vectors, state.index.cap_rows[target.id]).mean(axis=0)
                vector = vector / (np.linalg.norm(vector) or 1.0)
            return SimilarResponse(
                query=f"{target.id}#{capability}" if capability else target.id,
                capabilities=nearest_capabilities(state.index, vector, k, exclude=target.id),
                artifacts=similar_artifacts(state.index, state.graph, target, k))
        vector = self.embedder(state.index.manifest["model"]).encode_query(text)
        return SimilarResponse(query=text, capabilities=nearest_capabilities(state.index, vector, k),
                               artifacts=[])

    def has_artifact(self, artifact_id: str) -> bool:
        """Whether `artifact_id` is exactly the id of an indexed artifact (no name matching)."""
        return artifact_id in self.state.index.position

    def evaluate(self, path: str | Path, k: int = 10) -> dict[str, Any]:
        """Figures for a labeled JSONL file; never records events. Includes the config it ran with."""
        from ..search.evaluate import evaluate, read_labeled

        queries = read_labeled(path)
        self.state  # load before timing so the first query does not pay for it

        def rank(query: str) -> list[str]:
            return [r.artifact_id for r in self.search(query, k=max(k, 10), record=False).results]

        return {"config": self.config_public(), **evaluate(queries, rank, k)}
