"""What a search reads (`State`) and how the engine keeps it current.

A state is one index version, the match graph over the stored events, the scores and the adapter
fitted to the log, swapped as one object. `ServedState` (mixed into `Engine`) loads it on first
use and rebuilds it when a new index version is published or new events are stored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.catalog import Artifact
from ..core.config import bm25_settings
from ..core.errors import NoIndex
from ..core.gcpause import collection_paused
from ..core.signals import stored_catalog_signals
from ..graph.build import build_match_graph
from ..graph.match_graph import MatchGraph
from ..graph.pagerank import bipartite_pagerank
from ..graph.scores import Scores, compute_scores
from ..graph.stored import load_graph, save_graph
from ..learn.adapter import Adapter
from ..learn.fits import stored_or_learned
from ..retrieval.ann import AnnSettings
from ..retrieval.embeddings import Embedder
from ..retrieval.index import LoadedIndex
from ..retrieval.needs import SEVERAL
from ..store import SQLStore
from ..store.versions import IndexVersions

FITS = "adapters"  # folder of the home holding stored adapter fits (learn/fits.py)
POPULAR = 6  # artifacts in Overview.most_matched


@dataclass(frozen=True)
class State:
    """What a search reads, swapped as one object so a request never sees half of an update."""

    index: LoadedIndex
    graph: MatchGraph
    scores: Scores
    learned: Learned = field(default_factory=lambda: Learned(None))

    def past(self, role: str) -> MatchGraph | None:
        """The graph a text of this role (needs.REQUEST, SEVERAL, ACTION) walks; None: no history."""
        if role == SEVERAL:
            return None
        return self.graph

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
    """The adapter fitted to the log (learn/adapter.py; None: no events), when and on which events."""

    adapter: Adapter | None
    fitted_at: float = 0.0  # time.monotonic()
    events: tuple = ()  # the graph signature it was fitted on


class ServedState:
    """The engine's current state: loaded on first use, rebuilt when a new index version or new
    events appear. Mixed into Engine, whose __init__ sets the attributes below."""

    home: Path
    config: dict
    store: SQLStore
    versions: IndexVersions
    refresh_seconds: float
    fit: bool
    background_refresh: bool  # set by a server's refresh thread: requests never rebuild
    embedder: Callable[..., Embedder]  # Engine.embedder(model)
    _state: State | None
    _checked_at: float  # time.monotonic() of the last look at the event table
    _lock: threading.RLock

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

    @collection_paused()  # loads and graph builds: objects that all live on (core/gcpause.py)
    def _build_state(self, previous: State | None, progress: bool = False, refit: bool = False) -> State:
        current = self.versions.current()
        if current is None:
            raise NoIndex(f"no index in {self.home}; run `matchgraph index --catalog PATH` first")
        version, folder = current
        if previous is not None and previous.index.version == version:
            index = previous.index
        else:  # the manifest is read once, by the load
            index = LoadedIndex.load(version, folder, bm25_settings(self.config), AnnSettings.from_config(self.config))
            if index.manifest.get("artifacts", 1) < 1:  # published before empty catalogs were refused
                raise NoIndex(f"index version {version} has no artifacts; run `matchgraph index "
                              "--catalog PATH` with a catalog that has some")
            index.name_index  # built before the state is served: a first search waited for it (~13 s at 1M)
        # Same index version: only the events stored since the previous graph are read and merged.
        # A new process starts from the graph stored with the version (graph/stored.py) the same way.
        continued = previous.graph if previous and previous.index is index else None
        stored = load_graph(self.home, index) if continued is None else None
        graph = build_match_graph(self.store, index, self.embedder(index.manifest["model"]),
                                  self.config, progress=progress, previous=continued or stored)
        # The catalog's own signals are scored once per index version; a refresh redoes the graph's.
        # A new version's are read from the columns its build stored (not from every record).
        now = datetime.now(timezone.utc)
        signals = previous.scores.signals if previous and previous.index is index else \
            self._stored_signals(index, now)
        scores = compute_scores(index.artifacts,
                                bipartite_pagerank(graph.weights, self.config["graph"]["pagerank_alpha"]),
                                graph.times_matched, self.config, now=now, signals=signals,
                                artifact_of=index.artifact)
        learned = self._learned(previous, index, graph, refit)
        # The graph is stored when a process built it (not loaded as stored) and when a fit was
        # made for it, so that the stored graph and fit go together: the next process then folds
        # in only the events after them, and finds the fit for an unchanged log.
        if not graph.empty and ((continued is None and (stored is None or graph.signature != stored.signature))
                                or (previous is not None and learned is not previous.learned
                                    and learned.adapter is not None)):
            save_graph(self.home, graph)
        return State(index=index, graph=graph, scores=scores, learned=learned)

    def _stored_signals(self, index: LoadedIndex, now: datetime):
        """The catalog's signals from the columns the index build stored (signals.signal_row);
        None for a version written before they were (compute_scores then reads every record)."""
        if index.signal_columns is None:
            return None
        return stored_catalog_signals(index.ids, index.signal_columns,
                                      float(self.config["scores"]["neutral_prior"]), now)

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

    def overview(self, load: bool = True) -> Overview | None:
        """The served state at a glance; `load=False` never loads or refreshes (None before the
        first load): what a probe or a scrape may call without waiting for a build."""
        state = self.state if load else self._state
        return state.overview if state is not None else None
