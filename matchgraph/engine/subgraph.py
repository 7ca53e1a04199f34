"""The match graph cut to an ego neighbourhood and a minimum edge weight, as a NetworkX graph, a
file (`matchgraph export`), a download or the explorer's view. Mixed into Engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import networkx as nx

from ..core.catalog import Artifact
from ..core.errors import NotFound, ValidationFailed
from ..core.events import normalize_query
from ..graph.export import check_output, ego_graph, filter_graph, graph_bytes, has_node, to_view, write_graph
from ..graph.match_graph import anode, qnode
from ..store import SQLStore
from .inputs import check_cut, check_length
from .state import State


class GraphCuts:
    """Cuts of the served match graph (mixed into Engine, which provides the attributes below)."""

    home: Path
    config: dict
    store: SQLStore
    state: State  # ServedState.state
    resolve: Callable[..., Artifact]  # Reading.resolve(name, parameter)

    def graph_node(self, name: str) -> str:
        """Graph node id for an artifact (id or name) or a past query (its text)."""
        graph = self.state.graph
        check_length("export", "ego", name, self.config["limits"]["query_length"] + 2)  # "q:" + a query
        if has_node(graph, name):
            return name
        try:
            if len(name) > self.config["limits"]["name_length"]:  # too long for a name: a past query's text
                raise NotFound(name)
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
        return self._cut(ego, radius, min_weight)

    def _cut(self, ego: str | None, radius: int, min_weight: float) -> nx.DiGraph:
        """subgraph after its checks (export checks the cut itself, before the output path)."""
        if ego:  # only the neighbourhood is built, never the whole catalog's graph
            return ego_graph(self.state.graph, self.graph_node(ego), radius, min_weight)
        return filter_graph(self.state.graph.network, min_weight, None, radius)

    def export(self, fmt: str, path: str | Path, min_weight: float = 0.0, ego: str | None = None,
               radius: int = 1) -> dict[str, Any]:
        """Write the (filtered) match graph; returns {"path", "format", "nodes", "edges"}."""
        check_cut(fmt, radius, min_weight)
        path = check_output(path, fmt, self._protected_paths())
        graph = self._cut(ego, radius, min_weight)
        try:
            write_graph(graph, fmt, path)
        except OSError as exc:
            raise ValidationFailed("export", [f"output: {path}: cannot write: {exc.strerror or exc}"]) from None
        return {"path": str(path), "format": fmt, "nodes": graph.number_of_nodes(),
                "edges": graph.number_of_edges()}

    def _protected_paths(self) -> list[Path]:
        """What an export must never write over: the home folder (store, index versions, fits,
        matchgraph.toml) and the store's file and its -wal/-shm/-journal when it lives elsewhere."""
        return [Path(self.home).resolve(), *self.store.files()]

    def graph_export(self, fmt: str, min_weight: float = 0.0, ego: str | None = None,
                     radius: int = 1) -> tuple[bytes, str, str]:
        """The export as (content, media type, file name), for downloads."""
        return graph_bytes(self.subgraph(ego, radius, min_weight, fmt), fmt)

    def graph_view(self, ego: str | None = None, radius: int = 1, min_weight: float = 0.0,
                   limit: int = 300) -> dict[str, Any]:
        """Nodes and edges (plain dicts) for the graph explorer, at most `limit` nodes; `total`:
        how many nodes the asked part of the graph has (the page says "showing N of M")."""
        graph = self.subgraph(ego, radius, min_weight)
        return {**to_view(graph, limit), "total": graph.number_of_nodes()}
