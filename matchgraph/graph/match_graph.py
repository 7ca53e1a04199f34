"""The match graph: which (normalized, merged) queries led to which artifacts and capabilities.

Built by graph_build.build_match_graph from counts the store aggregates (group by query,
artifact), never one add_edge per raw event. Besides the NetworkX graph it keeps what search
needs for the graph signal: a FAISS index of past-query vectors and a sparse query x artifact
weight matrix for short random walks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
from scipy import sparse

from ..retrieval.ann import ANN
from ..retrieval.index import LoadedIndex


def qnode(query_norm: str) -> str:
    return f"q:{query_norm}"


def anode(artifact_id: str) -> str:
    return f"a:{artifact_id}"


def cnode(artifact_id: str, capability_id: str) -> str:
    return f"c:{artifact_id}#{capability_id}"


@dataclass
class Evidence:
    """What the next build starts from (incremental refresh): the un-merged counts per raw query,
    the raw query vectors, the groups and the store cursor they were read up to. Never mutated
    once built (requests may read the graph that holds it)."""

    cursor: str
    key: tuple  # (index version, select weight, merge ratio, model): another key -> full build
    raw_pos: dict[str, int]  # raw normalized query -> row of `vectors`
    vectors: np.ndarray
    raw_edges: dict[str, dict[str, tuple[int, int]]]  # raw query -> artifact (in index) -> counts
    raw_caps: dict[str, dict[tuple[str, str], tuple[int, int]]]  # raw query -> (artifact, capability) -> (matches, selects)
    texts: dict[str, str]  # raw query -> max(original text)
    members: dict[str, list[str]]  # representative -> its raw queries


@dataclass
class MatchGraph:
    """Aggregated match evidence; `queries[i]` is row i of `weights` and `query_ann`.

    Search, compare and scores read the arrays and dicts; the NetworkX graph (for export, the
    explorer and stats) is built from them on first use, so a refresh that only serves searches
    never pays for it.
    """

    index: LoadedIndex
    queries: list[str]  # representative normalized query texts
    query_ann: ANN | None
    weights: sparse.csr_matrix  # (n_queries, n_artifacts in index order)
    edges: dict[tuple[str, str], tuple[int, int]]  # (query, artifact id) -> (matches, selects)
    capability_edges: dict[tuple[str, str, str], tuple[int, int]]  # (query, artifact id, capability id) -> (matches, selects)
    labels: dict[str, str]  # query -> one original text of it
    times_matched: dict[str, int]
    selects: dict[str, int]
    select_weight: float = 3.0
    aliases: dict[str, str] = field(default_factory=dict)  # normalized query -> representative
    signature: tuple = ()
    # Task level of the walk: artifact position -> task number (-1: no task); tasks[number] = name.
    task_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tasks: list[str] = field(default_factory=list)
    evidence: Evidence | None = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not self.queries

    @cached_property
    def query_pos(self) -> dict[str, int]:
        return {q: i for i, q in enumerate(self.queries)}

    @cached_property
    def query_vectors(self) -> np.ndarray:
        """(n_queries, dim): the vector of each representative query, row i for `queries[i]`."""
        if self.evidence is None or not self.queries:
            return np.zeros((0, 0), dtype=np.float32)
        return self.evidence.vectors[[self.evidence.raw_pos[q] for q in self.queries]]

    @cached_property
    def transitions(self) -> sparse.csr_matrix:
        """The walk's one step, query -> artifact, row-stochastic (search.graph_walk)."""
        return _row_normalize(self.weights)

    @cached_property
    def weights_by_artifact(self) -> sparse.csc_matrix:
        """`weights` by column: an artifact's queries are one slice (compare, artifact pages)."""
        return self.weights.tocsc()

    @cached_property
    def queries_by_artifact(self) -> dict[str, list[tuple[str, int, int]]]:
        """artifact id -> [(query, matches, selects)] of the queries that matched it."""
        out: dict[str, list[tuple[str, int, int]]] = {}
        for (query, artifact_id), (matches, n_select) in self.edges.items():
            out.setdefault(artifact_id, []).append((query, matches, n_select))
        return out

    @cached_property
    def network(self) -> nx.DiGraph:
        """query -> artifact ("matched"), query -> capability ("matched_capability") and
        capability -> artifact ("capability_of") edges with matches, selects and weight."""
        graph = nx.DiGraph()
        for artifact in self.index.artifacts:
            graph.add_node(anode(artifact.id), type="artifact", label=artifact.name, kind=artifact.kind,
                           task=artifact.task or "", times_matched=self.times_matched.get(artifact.id, 0))
            for cap in artifact.capabilities:
                graph.add_node(cnode(artifact.id, cap.id), type="capability", label=cap.title)
                graph.add_edge(cnode(artifact.id, cap.id), anode(artifact.id), relation="capability_of",
                               matches=0, selects=0, weight=1.0)
        for query in self.queries:
            graph.add_node(qnode(query), type="query", label=self.labels.get(query, query))
        graph.add_edges_from(
            (qnode(query), anode(artifact_id),
             {"relation": "matched", "matches": matches, "selects": n_select,
              "weight": float(edge_weight(matches, n_select, self.select_weight))})
            for (query, artifact_id), (matches, n_select) in self.edges.items())
        graph.add_edges_from(
            (qnode(query), cnode(artifact_id, capability_id),
             {"relation": "matched_capability", "matches": matches, "selects": n_select,
             "weight": float(edge_weight(matches, n_select, self.select_weight))})
            for (query, artifact_id, capability_id), (matches, n_select) in self.capability_edges.items())
        return graph


def edge_weight(matches: int, selects: int, select_weight: float) -> float:
    """A select is also a match (what was selected was shown); it weighs `select_weight` matches."""
    return (matches - selects) + select_weight * selects


def _row_normalize(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sparse.diags(1.0 / sums) @ matrix
