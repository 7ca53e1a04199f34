"""matchgraph.Engine: the one entry point. The CLI, the HTTP API and MCP are thin layers over it.

Engine holds the home folder, the config, the store and the embedders; each concept of what it
does lives in a module of its own, mixed in here:

- state.py      `ServedState`: the served index, graph, scores and adapter, and their refresh
- indexing.py   `Indexing`: `index` (validate, embed, publish a version)
- event_log.py  `EventLog`: `ingest`, `add_events`, `event_bursts`, `purge_events`
- reading.py    `Reading`: `resolve`, `search`, `artifact`, `compare`, `similar`, `evaluate`
- finding.py    `ToolFinding`: `find_tools` (tool-level search for agents)
- subgraph.py   `GraphCuts`: `subgraph`, `export`, `graph_export`, `graph_view`
"""

from __future__ import annotations

import hmac
import threading
import time
from pathlib import Path
from typing import Any

from ..core.config import home_dir, load_config, store_url
from ..core.errors import Unauthorized
from ..retrieval.embeddings import Embedder
from ..store import create_store
from ..store.versions import IndexVersions
from .event_log import EventLog
from .finding import ToolFinding
from .indexing import Indexing
from .reading import Reading
from .state import Learned, Overview, ServedState, State
from .subgraph import GraphCuts

__all__ = ["Engine", "State", "Overview", "Learned"]


class Engine(ServedState, Indexing, EventLog, Reading, ToolFinding, GraphCuts):
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
        self.versions.reconcile(self.store.latest_version())  # finish a publish a crash cut short
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

    def embedder(self, model: str | None = None) -> Embedder:
        model = model or self.config["model"]
        if model not in self._embedders:
            self._embedders[model] = Embedder.from_config(model, self.store, self.config, self.home)
        return self._embedders[model]

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
