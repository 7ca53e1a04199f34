"""matchgraph.Engine: the one entry point. The CLI, the HTTP API and MCP are thin layers over it."""

from __future__ import annotations

import hmac
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import networkx as nx
import numpy as np

from .adapter import Adapter
from .catalog import Artifact, capability_texts, load_catalog
from .compare import compare, most_matched, queries_of
from .config import bm25_settings, home_dir, load_config, store_url
from .embeddings import Embedder, encode_with
from .errors import NoIndex, NotFound, Unauthorized, ValidationFailed
from .events import (
    EventIn,
    check_events,
    check_query,
    finish,
    iter_events,
    normalize_query,
    read_log,
    validate_batch,
)
from .export import FORMATS, filter_graph, graph_bytes, to_view, write_graph
from .fits import stored_or_learned
from .graph import MatchGraph, anode, build_match_graph, qnode
from .index import LoadedIndex, write_index
from .models import (
    ArtifactDetail,
    Comparison,
    ScoreCard,
    SearchResponse,
    SimilarResponse,
)
from .names import resolve_artifact
from .needs import search_needs
from .pagerank import bipartite_pagerank
from .scores import compute_scores
from .search import Filters, request_part, search
from .similar import nearest_capabilities, similar_artifacts
from .store import create_store
from .versions import IndexVersions

log = logging.getLogger(__name__)

FITS = "adapters"  # folder of the home holding stored adapter fits (fits.py)


@dataclass(frozen=True)
class State:
    """What a search reads, swapped as one object so a request never sees half of an update."""

    index: LoadedIndex
    graph: MatchGraph
    scores: dict[str, dict]
    learned: Learned = field(default_factory=lambda: Learned(None))

    @property
    def adapter(self) -> Adapter | None:
        return self.learned.adapter


@dataclass(frozen=True)
class Learned:
    """The adapter fitted to the log (adapter.py; None: no events), when and on which events."""

    adapter: Adapter | None
    fitted_at: float = 0.0  # time.monotonic()
    events: tuple = ()  # the graph signature it was fitted on


class Engine:
    """Open on a home folder (default ./.matchgraph or MATCHGRAPH_HOME).

    `overrides` is a nested dict of config keys (flags); `refresh_seconds` > 0 (servers) lets
    new events reach the graph at most that often, 0 (CLI) rebuilds whenever events changed.
    """

    def __init__(self, home: str | Path | None = None, overrides: dict | None = None,
                 refresh_seconds: float | None = 0):
        self.home = home_dir(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config = load_config(self.home, overrides)
        self.store = create_store(store_url(self.config, self.home))
        self.versions = IndexVersions(self.home)
        self.refresh_seconds = (self.config["graph"]["refresh_seconds"] if refresh_seconds is None
                                else refresh_seconds)
        self._state: State | None = None
        self._checked_at = time.monotonic()
        self._lock = threading.RLock()
        self._embedders: dict[str, Embedder] = {}

    # -- building blocks ------------------------------------------------------------------------
    def embedder(self, model: str | None = None) -> Embedder:
        model = model or self.config["model"]
        if model not in self._embedders:
            self._embedders[model] = Embedder(model, self.store, self.config["batch_size"])
        return self._embedders[model]

    @property
    def state(self) -> State:
        """The loaded index, graph and scores, refreshed when a new version or new events appear.

        Only the first load blocks. A stale state is rebuilt by whichever caller gets the lock
        first; everyone else keeps reading the previous state meanwhile (a rebuild over a million
        events takes seconds, and requests must not queue behind it).
        """
        state = self._state
        if state is None:
            with self._lock:
                if self._state is None:
                    self._state = self._build_state(None)
                return self._state
        if self._stale(state) and self._lock.acquire(blocking=False):
            try:
                if self._state is state:
                    self._state = self._build_state(state)
                state = self._state
            finally:
                self._lock.release()
        return state

    @property
    def loaded(self) -> State | None:
        """The state being served, without loading or refreshing anything (None before the first
        load). A reindex never resets it: readers keep the old state until the new one is built."""
        return self._state

    def _stale(self, state: State) -> bool:
        current = self.versions.current()
        if current and current[0] != state.index.version:
            return True
        now = time.monotonic()
        if self.refresh_seconds and now - self._checked_at < self.refresh_seconds:
            return False
        self._checked_at = now  # servers look at the event table at most once an interval
        return self.store.events_signature() != state.graph.signature

    def _build_state(self, previous: State | None, progress: bool = False, refit: bool = False) -> State:
        current = self.versions.current()
        if current is None:
            raise NoIndex(f"no index in {self.home}; run `matchgraph index --catalog PATH` first")
        version, folder = current
        index = previous.index if previous and previous.index.version == version \
            else LoadedIndex.load(version, folder, bm25_settings(self.config))
        # Same index version: only the events stored since the previous graph are read and merged.
        graph = build_match_graph(self.store, index, self.embedder(index.manifest["model"]),
                                  self.config, progress=progress,
                                  previous=previous.graph if previous and previous.index is index else None)
        scores = compute_scores(index.artifacts,
                                bipartite_pagerank(graph.weights, self.config["graph"]["pagerank_alpha"]),
                                graph.times_matched, self.config)
        return State(index=index, graph=graph, scores=scores,
                     learned=self._learned(previous, index, graph, refit))

    def _learned(self, previous: State | None, index: LoadedIndex, graph: MatchGraph,
                 refit: bool) -> Learned:
        """The previous fit while it still fits these events, or while a server's refit is not
        yet due; else the fit for these events."""
        if previous is not None and previous.index is index:
            before = previous.learned
            if before.events == graph.signature:
                return before
            # A server folds new events into the graph every few seconds; a fit costs seconds to
            # tens of seconds (bench/adapter_fit.py), so the previous one serves until it is due.
            due = time.monotonic() - before.fitted_at >= self.config["search"]["adapter_refit_seconds"]
            if self.refresh_seconds and not refit and not due and before.adapter is not None:
                return before
        adapter = stored_or_learned(self.home / FITS, index, graph, self.config["search"],
                                    lambda: self.embedder(index.manifest["model"]).model,
                                    self.embedder(index.manifest["model"]).encode)
        return Learned(adapter, time.monotonic(), graph.signature)

    def refresh(self) -> None:
        """Rebuild graph, scores and adapter now (e.g. after an ingest), reloading the index if it
        changed."""
        with self._lock:
            self._state = self._build_state(self._state, refit=True)

    # -- indexing -------------------------------------------------------------------------------
    def index(self, catalog: Iterable[str | Path] | None = None, model: str | None = None,
              progress: bool = False) -> dict[str, Any]:
        """Validate the catalog, embed new capability texts, build FAISS and publish a new version.

        A bad catalog raises ValidationFailed before anything is written; the served index stays.
        Returns {"version", "artifacts", "capabilities", "embedded", "cached", "model"}.
        """
        last = self.store.versions()
        paths = [str(Path(p).resolve()) for p in catalog] if catalog else \
            (last[0]["catalog"] if last else list(self.config["catalog"]))
        if not paths:
            raise ValidationFailed("index", ["--catalog: no catalog given and no previous index"])
        model = model or (self.config["model"] if catalog or not last else last[0]["model"])
        artifacts = load_catalog(paths)
        embedder = self.embedder(model)
        texts = capability_texts(artifacts)
        vectors = embedder.encode(texts, progress=progress)
        embedded = embedder.last_embedded
        with self.versions.publishing():
            version, staging = self.versions.staging()
            manifest = {"version": version, "model": model, "dim": int(vectors.shape[1]),
                        "catalog": paths, "artifacts": len(artifacts), "capabilities": len(texts),
                        "created_at": datetime.now(timezone.utc).isoformat()}
            try:
                write_index(staging, artifacts, vectors, manifest)
                self.versions.publish(version, staging, keep=self.config["keep_versions"])
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self.store.replace_artifacts(artifacts)
            self.store.record_version(version, model, paths, len(artifacts), len(texts), embedded)
        # No reset of self._state: readers keep the old one until the version check swaps it.
        return {"version": version, "artifacts": len(artifacts), "capabilities": len(texts),
                "embedded": embedded, "cached": len(texts) - embedded, "model": model}

    # -- events ---------------------------------------------------------------------------------
    def ingest(self, path: str | Path, progress: bool = False) -> dict[str, int]:
        """Store the events of a JSONL log, all or nothing.

        The file is read twice: once to validate every line (any problem rejects the file and
        nothing is stored), then streamed into one store transaction, so a log of millions of
        lines never sits in memory.
        """
        known = self._known_ids()
        total = check_events(read_log(path), known)
        if not progress or total <= 10_000:
            new = self.store.add_events(iter_events(read_log(path)))
        else:
            from .progress import progress_bar

            with progress_bar(f"storing {total} events", total) as advance:
                new = self.store.add_events(_advancing(iter_events(read_log(path)), advance))
        return {"received": total, "new": new, "duplicates": total - new}

    def add_events(self, items: list[dict]) -> dict[str, int]:
        """Store a batch of events (POST /api/events); rejected whole when any item is bad."""
        events = validate_batch(((f"events[{i}]", raw) for i, raw in enumerate(items)), self._known_ids())
        new = self.store.add_events(events)
        return {"received": len(events), "new": new, "duplicates": len(events) - new}

    def _known_ids(self) -> set[str]:
        return {a.id for a in self.state.index.artifacts}

    # -- reading --------------------------------------------------------------------------------
    def resolve(self, name: str) -> Artifact:
        """Exact id, then unique case-insensitive name, then an unambiguous fuzzy name."""
        return resolve_artifact(self.state.index, name)

    def search(self, query: str, k: int | None = None, kind: str | None = None,
               pricing: str | None = None, task: str | None = None, record: bool = True
               ) -> SearchResponse:
        """Rank artifacts for `query`; a recorded search stores its top results as match events."""
        query = check_query(query)
        k = _check_k("search", self.config["search"]["k"] if k is None else k)
        state = self.state
        request = request_part(query, self.config["search"]["input_markers"])
        embedder = self.embedder(state.index.manifest["model"])
        vector = embedder.encode_query(request)
        ranks = {aid: s["rank"] for aid, s in state.scores.items()}
        results = search_needs(  # a request naming several actions: one ranking per action, merged
            request, vector, k, lambda text, v, n: search(state.index, state.graph, v, text, n,
                                                          Filters(kind, pricing, task), self.config,
                                                          ranks, state.adapter),
            lambda parts: encode_with(embedder.model, parts), self.config["search"]["needs_min_parts"])
        if record and results:
            now = datetime.now(timezone.utc)
            shown = results[: self.config["search"]["record_top"]]
            self.store.add_events([finish(EventIn(query=query, artifact_id=r.artifact_id, kind="match",
                                                  ts=now, capability_id=r.matched_capability,
                                                  score=r.score, rank=r.position)) for r in shown])
        return SearchResponse(query=query, results=results, recorded=bool(record and results))

    def artifact(self, name: str, similar: int = 5, queries: int = 20) -> ArtifactDetail:
        """One artifact: catalog record, scores with explanations, queries that matched it, similar ones."""
        state = self.state
        artifact = self.resolve(name)
        return ArtifactDetail(artifact=artifact.model_dump(mode="json"),
                              scores=ScoreCard(**state.scores[artifact.id]),
                              queries=most_matched(queries_of(state.graph, artifact.id), queries),
                              similar=similar_artifacts(state.index, state.graph, artifact, similar))

    def compare(self, a: str, b: str) -> Comparison:
        """The "A vs B" comparison; artifacts are named by id, name or an unambiguous fuzzy name."""
        state = self.state
        first, second = self.resolve(a), self.resolve(b)
        if first.id == second.id:
            raise ValidationFailed("compare", [f"b: '{b}' is the same artifact as a ({first.id})"])
        return compare(state.index, state.graph, state.scores, first, second, self.config)

    def similar(self, text: str | None = None, artifact: str | None = None,
                capability: str | None = None, k: int = 10) -> SimilarResponse:
        """Nearest capabilities to a text or to an artifact's capability; for an artifact also its
        most similar artifacts (by capabilities and by shared queries)."""
        _check_k("similar", k)
        state = self.state
        if artifact:
            target = self.resolve(artifact)
            if capability:
                if capability not in {c.id for c in target.capabilities}:
                    raise NotFound(f"artifact '{target.id}' has no capability '{capability}'")
                vector = state.index.capability_vector(target.id, capability)
            else:
                vector = state.index.vectors[state.index.cap_rows[target.id]].mean(axis=0)
                vector = vector / (np.linalg.norm(vector) or 1.0)
            return SimilarResponse(
                query=f"{target.id}#{capability}" if capability else target.id,
                capabilities=nearest_capabilities(state.index, vector, k, exclude=target.id),
                artifacts=similar_artifacts(state.index, state.graph, target, k))
        if not text or not text.strip():
            raise ValidationFailed("similar", ["text: give a text or an artifact"])
        vector = self.embedder(state.index.manifest["model"]).encode_query(text)
        return SimilarResponse(query=text, capabilities=nearest_capabilities(state.index, vector, k),
                               artifacts=[])

    def graph_node(self, name: str) -> str:
        """Graph node id for an artifact (id or name) or a past query (its text)."""
        graph = self.state.graph
        if name in graph.graph:
            return name
        try:
            return anode(self.resolve(name).id)
        except NotFound:
            alias = graph.aliases.get(normalize_query(name))
            if alias is None:
                raise NotFound(f"no artifact or past query named '{name}'") from None
            return qnode(alias)

    def subgraph(self, ego: str | None = None, radius: int = 1, min_weight: float = 0.0,
                 fmt: str | None = None) -> nx.DiGraph:
        """The match graph, optionally cut to the `radius`-hop neighbourhood of `ego` and to edges
        of at least `min_weight`; `fmt`, when given, is checked as an export format first."""
        if fmt is not None and fmt not in FORMATS:
            raise ValidationFailed("export", [f"format: must be one of {', '.join(FORMATS)}, got '{fmt}'"])
        if radius < 0 or radius > 5:
            raise ValidationFailed("export", [f"radius: must be between 0 and 5, got {radius}"])
        if min_weight < 0:
            raise ValidationFailed("export", [f"min_weight: must be >= 0, got {min_weight}"])
        node = self.graph_node(ego) if ego else None
        return filter_graph(self.state.graph.graph, min_weight, node, radius)

    def export(self, fmt: str, path: str | Path, min_weight: float = 0.0, ego: str | None = None,
               radius: int = 1) -> dict[str, Any]:
        """Write the (filtered) match graph; returns {"path", "format", "nodes", "edges"}."""
        graph = self.subgraph(ego, radius, min_weight, fmt)
        write_graph(graph, fmt, path)
        return {"path": str(path), "format": fmt, "nodes": graph.number_of_nodes(),
                "edges": graph.number_of_edges()}

    def graph_export(self, fmt: str, min_weight: float = 0.0, ego: str | None = None,
                     radius: int = 1) -> tuple[bytes, str, str]:
        """The export as (content, media type, file name), for downloads."""
        return graph_bytes(self.subgraph(ego, radius, min_weight, fmt), fmt)

    def graph_view(self, ego: str | None = None, radius: int = 1, min_weight: float = 0.0,
                   limit: int = 300) -> dict[str, Any]:
        """Nodes and edges (plain dicts) for the graph explorer."""
        return to_view(self.subgraph(ego, radius, min_weight), limit)

    def evaluate(self, path: str | Path, k: int = 10) -> dict[str, Any]:
        """Figures for a labeled JSONL file; never records events. Includes the config it ran with."""
        from .evaluate import evaluate, read_labeled

        queries = read_labeled(path)
        self.state  # load before timing so the first query does not pay for it

        def rank(query: str) -> list[str]:
            return [r.artifact_id for r in self.search(query, k=max(k, 10), record=False).results]

        return {"config": self.config_public(), **evaluate(queries, rank, k)}

    def authorize(self, given: str | None) -> None:
        """Check a write token against config `token` (MATCHGRAPH_TOKEN) in constant time.

        Raises Unauthorized: writes are off when no token is configured, never open.
        """
        configured = str(self.config.get("token") or "")
        if not configured:
            raise Unauthorized("disabled", "writes are off: no token is configured (set MATCHGRAPH_TOKEN "
                                           "or `token` in matchgraph.toml where the server runs)")
        if not given:
            raise Unauthorized("missing", "this needs the write token")
        if not hmac.compare_digest(given.encode(), configured.encode()):
            raise Unauthorized("wrong", "the token is not valid for this server")

    def config_public(self) -> dict[str, Any]:
        """The effective config with the token masked."""
        import copy

        config = copy.deepcopy(self.config)
        if config.get("token"):
            config["token"] = "***"
        return config

    def stats(self) -> dict[str, Any]:
        state = self.state
        return {"home": str(self.home), "store": self.store.safe_url,
                "index_version": state.index.version, "model": state.index.manifest["model"],
                "artifacts": len(state.index.artifacts), "capabilities": len(state.index.rows),
                "events": self.store.event_count(), "queries": len(state.graph.queries),
                "graph_nodes": state.graph.graph.number_of_nodes(),
                "graph_edges": state.graph.graph.number_of_edges(),
                "versions": [v["version"] for v in self.store.versions()][:5]}

    def close(self) -> None:
        self.store.close()


def _check_k(what: str, k: int) -> int:
    if not 1 <= k <= 100:
        raise ValidationFailed(what, [f"k: must be between 1 and 100, got {k}"])
    return k


def _advancing(items, advance, every: int = 10_000):
    """Pass items through, advancing a progress bar every `every` items."""
    for count, item in enumerate(items, start=1):
        if count % every == 0:
            advance(every)
        yield item
