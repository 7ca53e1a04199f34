"""PageRank over the match graph, for the match_graph score (graph/scores.py)."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def bipartite_pagerank(weights: sparse.csr_matrix, alpha: float = 0.85, tol: float = 1e-10,
                       max_iter: int = 200) -> np.ndarray:
    """Weighted PageRank over the undirected query-artifact graph given by `weights`
    (n_queries, n_artifacts); returns (n_artifacts,) scores.

    Power iteration on the sparse matrix itself (what networkx.pagerank computes, without
    building a second graph object: at a million edges that copy costs more than the iteration).
    Nodes without edges spread their mass uniformly, as in networkx. Artifacts without any edge
    get the teleport share here; graph/scores.py turns "never matched" into the documented prior.

    Every node without edges holds the same rank at every step, so one number stands for all of
    them and the iteration runs over the linked nodes only: its cost is the edges, not the catalog
    (at 1,000,000 artifacts most were never matched, and the vectors over all of them cost more
    than the matrix product).
    """
    n_q, n_a = weights.shape
    if weights.nnz == 0:
        return np.zeros(n_a)
    w = weights.astype(np.float64)
    adjacency = sparse.bmat([[None, w], [w.T, None]], format="csr")
    n = adjacency.shape[0]
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    linked = np.flatnonzero(degree > 0)
    alone = n - len(linked)  # nodes without edges: the dangling ones of an undirected graph
    transition = sparse.diags(1.0 / degree[linked]) @ adjacency[linked][:, linked]
    rank, rank_alone = np.full(len(linked), 1.0 / n), 1.0 / n
    for _ in range(max_iter):
        spread = alpha * alone * rank_alone / n + (1 - alpha) / n  # dangling mass and teleport
        previous, previous_alone = rank, rank_alone
        rank, rank_alone = alpha * (rank @ transition) + spread, spread
        if np.abs(rank - previous).sum() + alone * abs(rank_alone - previous_alone) < n * tol:
            break
    out = np.full(n, rank_alone)
    out[linked] = rank
    return out[n_q:]
