"""matchgraph.Engine: the one entry point. The CLI, the HTTP API and MCP are thin layers over it."""

from __future__ import annotations

import hmac
import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import networkx as nx
import numpy as np

from .adapter import Adapter
from .ann import AnnSettings
from .catalog import Artifact, capability_texts, load_catalog
from .compare import compare, most_matched, queries_of
from .config import bm25_settings, home_dir, load_config, store_url
from .embeddings import Embedder, encode_with
from .errors import NoIndex, NotFound, Unauthorized, ValidationFailed, invalid
from .events import (
    EventConflict,
    client_key,
    EventIn,
    check_events,
    check_query,
    finish,
    iter_events,
    normalize_query,
    read_log,
    validate_batch,
    window_id,
)
from .export import check_output, ego_graph, filter_graph, graph_bytes, has_node, to_view, write_graph
from .fits import stored_or_learned
from .graph import MatchGraph, anode, build_match_graph, qnode
from .index import COLUMNS, MANIFEST, LoadedIndex, dump_records, write_index
from .inputs import check_cut, check_k, search_filters, similar_input
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
from .scores import Scores, compute_scores
from .search import request_part, search
from .similar import nearest_capabilities, similar_artifacts
from .store import create_store
from .versions import IndexVersions

log = logging.getLogger(__name__)

FITS = "adapters"  # folder of the home holding stored adapter fits (fits.py)
POPULAR = 6  # artifacts in Overview.most_matched


@dataclass(frozen=True)
class State:
    """What a search reads, swapped as one object so a request never sees half of an update."""

    index: LoadedIndex
    graph: MatchGraph
    scores: Scores
    learned: Learned = field(default_factory=lambda: Learned(None))

    @property
    def adapter(self) -> Adapter | None:
        return self.learned.adapter

    @cached_property
    def rank_column(self) -> np.ndarray:
        """(n_artifacts,) each artifact's composite rank in catalog order: search's prior."""
        return np.asarray(self.scores.rank, dtype=np.float64)  # Scores keeps catalog order

    @cached_property
    def overview(self) -> Overview:
        """Counted once per state (a state never changes): what pages and probes show of it."""
        index, scores = self.index, self.scores
        top = scores.most_matched(POPULAR)
        return Overview(index_version=index.version, model=index.manifest.get("model"),
                        artifacts=len(index.artifacts), capabilities=len(index.rows),
                        queries=len(self.graph.queries),
                        tasks=tuple(sorted({t for t in index.tasks if t})),
                        most_matched=tuple((index.artifact(aid), scores[aid]) for aid in top))


@dataclass(frozen=True)
class Overview:
    """The served state at a glance: what the pages, /readyz, /metrics and `stats` report."""

    index_version: int
    model: str | None  # embedding model of the index
    artifacts: int
    capabilities: int
    queries: int  # merged past queries in the match graph
    tasks: tuple[str, ...]  # every task of the catalog, sorted
    most_matched: tuple[tuple[Artifact, dict], ...]  # (artifact, its scores), most Times Matched first


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
    `fit=False` (CLI commands that read or ingest) never fits the adapter when a fit for this
    index version is stored: the newest one serves, however many events came since.
    """

    def __init__(self, home: str | Path | None = None, overrides: dict | None = None,
                 refresh_seconds: float | None = 0, fit: bool = True):
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
        self.fit = fit
        # Set by a server's refresh thread (api.app.Service): requests then never build a state
        # after the first load; the thread does it (refresh_if_stale), off the request path.
        self.background_refresh = False

    # -- building blocks ------------------------------------------------------------------------
    def embedder(self, model: str | None = None) -> Embedder:
        model = model or self.config["model"]
        if model not in self._embedders:
            self._embedders[model] = Embedder.from_config(model, self.store, self.config, self.home)
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
        if not self.background_refresh and self._stale(state) and self._lock.acquire(blocking=False):
            try:
                if self._state is state:
                    self._state = self._build_state(state)
                state = self._state
            finally:
                self._lock.release()
        return state

    def refresh_if_stale(self) -> State:
        """Load the state, or rebuild it when a new version or new events appeared (waiting for a
        rebuild in progress): what a server's refresh thread calls."""
        with self._lock:
            if self._state is None or self._stale(self._state):
                self._state = self._build_state(self._state)
            return self._state

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
        if previous is None or previous.index.version != version:
            manifest = json.loads((folder / MANIFEST).read_text())
            if manifest.get("artifacts", 1) < 1:  # published before empty catalogs were refused
                raise NoIndex(f"index version {version} has no artifacts; run `matchgraph index "
                              "--catalog PATH` with a catalog that has some")
        index = previous.index if previous and previous.index.version == version \
            else LoadedIndex.load(version, folder, bm25_settings(self.config), AnnSettings.from_config(self.config))
        # Same index version: only the events stored since the previous graph are read and merged.
        graph = build_match_graph(self.store, index, self.embedder(index.manifest["model"]),
                                  self.config, progress=progress,
                                  previous=previous.graph if previous and previous.index is index else None)
        # The catalog's own signals are scored once per index version; a refresh redoes the graph's.
        signals = previous.scores.signals if previous and previous.index is index else None
        scores = compute_scores(index.artifacts,
                                bipartite_pagerank(graph.weights, self.config["graph"]["pagerank_alpha"]),
                                graph.times_matched, self.config, signals=signals,
                                artifact_of=index.artifact)
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
            if not self.fit and before.adapter is not None:
                return before
            # A server folds new events into the graph every few seconds; a fit costs seconds to
            # tens of seconds (bench/adapter_fit.py), so the previous one serves until it is due.
            due = time.monotonic() - before.fitted_at >= self.config["search"]["adapter_refit_seconds"]
            if self.refresh_seconds and not refit and not due and before.adapter is not None:
                return before
        adapter = stored_or_learned(self.home / FITS, index, graph, self.config["search"],
                                    lambda: self.embedder(index.manifest["model"]).model,
                                    self.embedder(index.manifest["model"]).encode, newest=not self.fit)
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
        limits = self.config["limits"]
        artifacts = load_catalog(paths, limits)
        if len(artifacts) < limits["min_artifacts"]:
            raise ValidationFailed("catalog cannot be served, nothing was indexed", [
                f"{', '.join(map(str, paths))}: {len(artifacts)} artifact(s), fewer than "
                f"limits.min_artifacts ({limits['min_artifacts']}); the index in use stays"])
        embedder = self.embedder(model)
        texts = capability_texts(artifacts)
        vectors = embedder.encode(texts, progress=progress)
        embedded = embedder.last_embedded
        with self.versions.publishing():
            version, staging = self.versions.staging()
            manifest = {"version": version, "model": model, "dim": int(vectors.shape[1]),
                        "catalog": paths, "artifacts": len(artifacts), "capabilities": len(texts),
                        "created_at": datetime.now(timezone.utc).isoformat()}
            records = dump_records(artifacts)  # once for catalog.jsonl, the store and its hashes
            try:
                write_index(staging, artifacts, vectors, manifest, bm25_settings(self.config),
                            AnnSettings.from_config(self.config), records)
                self.versions.publish(version, staging, keep=self.config["keep_versions"])
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self.store.replace_artifacts(artifacts, records)
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
        line_bytes = self.config["limits"]["line_bytes"]
        total = check_events(read_log(path, line_bytes), known)
        try:
            if not progress or total <= 10_000:
                new = self.store.add_events(iter_events(read_log(path, line_bytes)))
            else:
                from .progress import progress_bar

                with progress_bar(f"storing {total} events", total) as advance:
                    new = self.store.add_events(_advancing(iter_events(read_log(path, line_bytes)), advance))
        except EventConflict as exc:
            places = [place for place, raw in read_log(path, line_bytes)
                      if isinstance(raw, dict) and raw.get("event_id") == exc.event.event_id]
            raise _located(exc, places) from None
        return {"received": total, "new": new, "duplicates": total - new}

    def add_events(self, items: list[dict]) -> dict[str, int]:
        """Store a batch of events (POST /api/events); rejected whole when any item is bad."""
        events = validate_batch(((f"events[{i}]", raw) for i, raw in enumerate(items)), self._known_ids(),
                                request=True)
        try:
            new = self.store.add_events(events)
        except EventConflict as exc:
            places = [f"events[{i}]" for i, e in enumerate(events) if e.event_id == exc.event.event_id]
            raise _located(exc, places) from None
        return {"received": len(events), "new": new, "duplicates": len(events) - new}

    def _known_ids(self) -> set[str]:
        """Artifact ids of the current index version, without building graph or adapter (an
        ingest must not wait for them): from the served state when it is current, else from the
        version's catalog file."""
        current = self.versions.current()
        if current is None:
            raise NoIndex(f"no index in {self.home}; run `matchgraph index --catalog PATH` first")
        state = self._state
        if state is not None and state.index.version == current[0]:
            return set(state.index.position)
        return set(json.loads((current[1] / COLUMNS).read_text())["id"])

    # -- audit and purge ------------------------------------------------------------------------
    def event_bursts(self, hours: float = 24.0, min_events: int = 10, limit: int = 50) -> list[dict]:
        """Groups of events of the last `hours` sharing a client and a normalized query with at
        least `min_events` events, most first (store.event_bursts)."""
        if hours <= 0 or min_events < 1 or limit < 1:
            raise ValidationFailed("events audit", ["--hours, --min-events and --limit must be above 0"])
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        return self.store.event_bursts(since, min_events, limit)

    def purge_events(self, query: str | None = None, artifact: str | None = None,
                     client: str | None = None, before: datetime | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        """Delete the stored events that match every given criterion: `query` (compared
        normalized), `artifact` (an id, as stored: artifacts no longer in the catalog too),
        `client` (a client key, or the address it was derived from), `before` (a time). The graph
        and scores forget them at the next refresh (a CLI command: at once). Returns
        {"matched", "purged", "criteria"}."""
        if not any(v is not None for v in (query, artifact, client, before)):
            raise ValidationFailed("events purge", ["give at least one of --query, --artifact, "
                                                    "--client, --before"])
        norm = normalize_query(query) if query is not None else None
        if query is not None and not norm:
            raise ValidationFailed("events purge", ["--query: needs at least one letter or digit"])
        if before is not None and before.tzinfo is None:
            before = before.replace(tzinfo=timezone.utc)
        key = client_key(client) if client is not None else None
        criteria = {"query": norm, "artifact": artifact, "client": key,
                    "before": before.isoformat() if before else None}
        count = self.store.purge_events(norm, artifact, key, before, dry_run=dry_run)
        return {"matched": count, "purged": 0 if dry_run else count, "criteria": criteria}

    # -- reading --------------------------------------------------------------------------------
    def resolve(self, name: str, parameter: str | None = None) -> Artifact:
        """Exact id, then unique case-insensitive name, then an unambiguous fuzzy name; an error
        names `parameter`, the input the name came in."""
        return resolve_artifact(self.state.index, name, parameter)

    def search(self, query: str, k: int | None = None, kind: str | None = None,
               pricing: str | None = None, task: str | None = None, record: bool = True,
               client: str | None = None) -> SearchResponse:
        """Rank artifacts for `query`; a recorded search stores its top results as match events.

        With `client` (a client key, api/guard.py), those events carry it and their ids are one
        per client, normalized query, artifact and window of server.record_window_seconds: the
        same search repeated by one client within a window is stored once."""
        query = check_query(query)
        k = check_k("search", self.config["search"]["k"] if k is None else k)
        filters = search_filters(kind, pricing, task)
        state = self.state
        request = request_part(query, self.config["search"]["input_markers"])
        embedder = self.embedder(state.index.manifest["model"])
        vector = embedder.encode_query(request)
        results = search_needs(  # a request naming several actions: one ranking per action, merged
            request, vector, k, lambda text, v, n: search(state.index, state.graph, v, text, n, filters,
                                                          self.config, state.rank_column, state.adapter),
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
                vector = state.index.vectors[state.index.cap_rows[target.id]].mean(axis=0)
                vector = vector / (np.linalg.norm(vector) or 1.0)
            return SimilarResponse(
                query=f"{target.id}#{capability}" if capability else target.id,
                capabilities=nearest_capabilities(state.index, vector, k, exclude=target.id),
                artifacts=similar_artifacts(state.index, state.graph, target, k))
        vector = self.embedder(state.index.manifest["model"]).encode_query(text)
        return SimilarResponse(query=text, capabilities=nearest_capabilities(state.index, vector, k),
                               artifacts=[])

    def graph_node(self, name: str) -> str:
        """Graph node id for an artifact (id or name) or a past query (its text)."""
        graph = self.state.graph
        if has_node(graph, name):
            return name
        try:
            return anode(self.resolve(name, "ego").id)
        except NotFound:
            alias = graph.aliases.get(normalize_query(name))
            if alias is None:
                raise NotFound(f"no artifact or past query named '{name}'", parameter="ego") from None
            return qnode(alias)

    def subgraph(self, ego: str | None = None, radius: int = 1, min_weight: float = 0.0,
                 fmt: str | None = None) -> nx.DiGraph:
        """The match graph, optionally cut to the `radius`-hop neighbourhood of `ego` and to edges
        of at least `min_weight`; `fmt`, when given, is checked as an export format first."""
        check_cut(fmt, radius, min_weight)
        if ego:  # only the neighbourhood is built, never the whole catalog's graph
            return ego_graph(self.state.graph, self.graph_node(ego), radius, min_weight)
        return filter_graph(self.state.graph.network, min_weight, None, radius)

    def export(self, fmt: str, path: str | Path, min_weight: float = 0.0, ego: str | None = None,
               radius: int = 1) -> dict[str, Any]:
        """Write the (filtered) match graph; returns {"path", "format", "nodes", "edges"}."""
        check_cut(fmt, radius, min_weight)
        path = check_output(path, fmt, self._protected_paths())
        graph = self.subgraph(ego, radius, min_weight, fmt)
        try:
            write_graph(graph, fmt, path)
        except OSError as exc:
            raise ValidationFailed("export", [f"output: {path}: cannot write: {exc.strerror or exc}"]) from None
        return {"path": str(path), "format": fmt, "nodes": graph.number_of_nodes(),
                "edges": graph.number_of_edges()}

    def _protected_paths(self) -> list[Path]:
        """What an export must never write over: the home folder (store, index versions, fits,
        matchgraph.toml) and the store's file when it lives elsewhere."""
        protected = [self.home]
        database = getattr(self.store.engine.url, "database", None)
        if self.store.dialect == "sqlite" and database:
            protected.append(Path(database).resolve())
        return protected

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

    def overview(self, load: bool = True) -> Overview | None:
        """The served state at a glance; `load=False` never loads or refreshes (None before the
        first load): what a probe or a scrape may call without waiting for a build."""
        state = self.state if load else self._state
        return state.overview if state is not None else None

    def has_artifact(self, artifact_id: str) -> bool:
        """Whether `artifact_id` is exactly the id of an indexed artifact (no name matching)."""
        return artifact_id in self.state.index.position

    def events_stored(self) -> int:
        return self.store.event_count()

    def stats(self) -> dict[str, Any]:
        """The overview's counts plus the store's and the NetworkX graph's (built on first use)."""
        state, seen = self.state, self.overview()
        network = state.graph.network
        return {"home": str(self.home), "store": self.store.safe_url,
                "index_version": seen.index_version, "model": seen.model,
                "artifacts": seen.artifacts, "capabilities": seen.capabilities,
                "events": self.events_stored(), "queries": seen.queries,
                "graph_nodes": network.number_of_nodes(), "graph_edges": network.number_of_edges(),
                "versions": [v["version"] for v in self.store.versions()][:5]}

    def close(self) -> None:
        self.store.close()


def _located(conflict: EventConflict, places: list[str]) -> ValidationFailed:
    """The conflict's message with the places (file:line or events[i]) holding that event_id."""
    where = f"{places[-1]}: " if places else ""
    also = f" (also at {', '.join(places[:-1])})" if len(places) > 1 else ""
    return ValidationFailed("events rejected, nothing was stored", [f"{where}{conflict.detail}{also}"])


def _advancing(items, advance, every: int = 10_000):
    """Pass items through, advancing a progress bar every `every` items."""
    for count, item in enumerate(items, start=1):
        if count % every == 0:
            advance(every)
        yield item
