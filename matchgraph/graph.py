"""The match graph: which (normalized, merged) queries led to which artifacts and capabilities.

Built from counts the store aggregates (group by query, artifact), never one add_edge per raw
event. Besides the NetworkX graph it keeps what search needs for the graph signal: a FAISS
index of past-query vectors and a sparse query x artifact weight matrix for short random walks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
from rapidfuzz import fuzz
from scipy import sparse

from .ann import ANN, create_ann
from .embeddings import Embedder
from .index import LoadedIndex

log = logging.getLogger(__name__)


def qnode(query_norm: str) -> str:
    return f"q:{query_norm}"


def anode(artifact_id: str) -> str:
    return f"a:{artifact_id}"


def cnode(artifact_id: str, capability_id: str) -> str:
    return f"c:{artifact_id}#{capability_id}"


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def merge_near_duplicates(queries: list[str], vectors: np.ndarray, ratio: float,
                          neighbours: int = 5) -> list[int]:
    """Map each query to the position of its group's representative.

    Only embedding neighbours are compared (never all pairs): two queries merge when they are
    among each other's nearest vectors and their texts are near-identical (rapidfuzz ratio).
    """
    groups = _UnionFind(len(queries))
    if len(queries) > 1:
        _, ids = create_ann(vectors).search(vectors, neighbours + 1)
        for i, row in enumerate(ids):
            for j in row:
                if j > i and fuzz.ratio(queries[i], queries[j]) >= ratio:
                    groups.union(i, int(j))
    return [groups.find(i) for i in range(len(queries))]


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
    capability_edges: dict[tuple[str, str, str], int]  # (query, artifact id, capability id) -> matches
    labels: dict[str, str]  # query -> one original text of it
    times_matched: dict[str, int]
    selects: dict[str, int]
    select_weight: float = 3.0
    aliases: dict[str, str] = field(default_factory=dict)  # normalized query -> representative
    signature: tuple = ()
    # Task level of the walk: artifact position -> task number (-1: no task); tasks[number] = name.
    task_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tasks: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.queries

    @cached_property
    def query_pos(self) -> dict[str, int]:
        return {q: i for i, q in enumerate(self.queries)}

    @cached_property
    def transitions(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """(query -> artifact, artifact -> query) row-stochastic transition matrices of the walk."""
        return _row_normalize(self.weights), _row_normalize(self.weights.T.tocsr())

    @cached_property
    def queries_by_artifact(self) -> dict[str, list[tuple[str, int, int]]]:
        """artifact id -> [(query, matches, selects)] of the queries that matched it."""
        out: dict[str, list[tuple[str, int, int]]] = {}
        for (query, artifact_id), (matches, n_select) in self.edges.items():
            out.setdefault(artifact_id, []).append((query, matches, n_select))
        return out

    @cached_property
    def graph(self) -> nx.DiGraph:
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
             {"relation": "matched_capability", "matches": matches, "selects": 0, "weight": float(matches)})
            for (query, artifact_id, capability_id), matches in self.capability_edges.items())
        return graph


def edge_weight(matches: int, selects: int, select_weight: float) -> float:
    """A select is also a match (what was selected was shown); it weighs `select_weight` matches."""
    return (matches - selects) + select_weight * selects


def _row_normalize(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sparse.diags(1.0 / sums) @ matrix


def build_match_graph(store, index: LoadedIndex, embedder: Embedder, config: dict,
                      progress: bool = False) -> MatchGraph:
    """Read aggregated counts from the store and build the match graph for `index`'s catalog."""
    gconf = config["graph"]
    select_weight = float(gconf["select_weight"])
    signature = store.events_signature()
    counts: dict[tuple[str, str], list[int]] = {}
    for query_norm, artifact_id, total, n_select in store.edge_counts():
        counts[(query_norm, artifact_id)] = [total, n_select]

    raw_queries = sorted({q for q, _ in counts})
    texts = store.query_texts()
    vectors = (embedder.encode(raw_queries, progress=progress) if raw_queries
               else np.zeros((0, index.vectors.shape[1]), np.float32))
    rep = merge_near_duplicates(raw_queries, vectors, gconf["merge_ratio"]) if raw_queries else []
    aliases = {q: raw_queries[rep[i]] for i, q in enumerate(raw_queries)}
    queries = sorted(set(aliases.values()))
    qpos = {q: i for i, q in enumerate(queries)}
    raw_pos = {q: i for i, q in enumerate(raw_queries)}
    query_vectors = vectors[[raw_pos[q] for q in queries]] if queries else vectors

    merged: dict[tuple[str, str], list[int]] = {}
    times_matched: dict[str, int] = {}
    selects: dict[str, int] = {}
    for (query_norm, artifact_id), (total, n_select) in counts.items():
        slot = merged.setdefault((aliases[query_norm], artifact_id), [0, 0])
        slot[0] += total
        slot[1] += n_select
        times_matched[artifact_id] = times_matched.get(artifact_id, 0) + total
        selects[artifact_id] = selects.get(artifact_id, 0) + n_select

    edges: dict[tuple[str, str], tuple[int, int]] = {}
    rows, cols, data = [], [], []
    for (query, artifact_id), (total, n_select) in merged.items():
        if artifact_id not in index.position:  # removed from the catalog: its events stay stored
            continue
        edges[(query, artifact_id)] = (total, n_select)
        rows.append(qpos[query])
        cols.append(index.position[artifact_id])
        data.append(edge_weight(total, n_select, select_weight))
    capability_edges: dict[tuple[str, str, str], int] = {}
    known_capabilities = {(a.id, c.id) for a in index.artifacts for c in a.capabilities}
    for query_norm, artifact_id, capability_id, total in store.capability_counts():
        if query_norm in aliases and (artifact_id, capability_id) in known_capabilities:
            key = (aliases[query_norm], artifact_id, capability_id)
            capability_edges[key] = capability_edges.get(key, 0) + total

    weights = sparse.csr_matrix((data, (rows, cols)), shape=(len(queries), len(index.artifacts)),
                                dtype=np.float32)
    tasks, task_of = task_index(index)
    return MatchGraph(index=index, queries=queries,
                      query_ann=create_ann(query_vectors) if queries else None, weights=weights,
                      edges=edges, capability_edges=capability_edges,
                      labels={q: texts.get(q, q) for q in queries}, times_matched=times_matched,
                      selects=selects, select_weight=select_weight, aliases=aliases,
                      signature=signature, task_of=task_of, tasks=tasks)


def task_index(index: LoadedIndex) -> tuple[list[str], np.ndarray]:
    """Task names (lower-cased, sorted) and each artifact's task number (-1 when it has none)."""
    names = [(a.task or "").strip().lower() for a in index.artifacts]
    tasks = sorted({n for n in names if n})
    number = {t: i for i, t in enumerate(tasks)}
    return tasks, np.array([number.get(n, -1) for n in names], dtype=np.int64)


def bipartite_pagerank(weights: sparse.csr_matrix, alpha: float = 0.85, tol: float = 1e-10,
                       max_iter: int = 200) -> np.ndarray:
    """Weighted PageRank over the undirected query-artifact graph given by `weights`
    (n_queries, n_artifacts); returns (n_artifacts,) scores.

    Power iteration on the sparse matrix itself (what networkx.pagerank computes, without
    building a second graph object: at a million edges that copy costs more than the iteration).
    Nodes without edges spread their mass uniformly, as in networkx. Artifacts without any edge
    get the teleport share here; scores.py turns "never matched" into the documented prior.
    """
    n_q, n_a = weights.shape
    if weights.nnz == 0:
        return np.zeros(n_a)
    w = weights.astype(np.float64)
    adjacency = sparse.bmat([[None, w], [w.T, None]], format="csr")
    n = adjacency.shape[0]
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    dangling = degree == 0
    transition = sparse.diags(np.divide(1.0, degree, out=np.zeros(n), where=~dangling)) @ adjacency
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        previous = rank
        rank = alpha * (rank @ transition + rank[dangling].sum() / n) + (1 - alpha) / n
        if np.abs(rank - previous).sum() < n * tol:
            break
    return rank[n_q:]
