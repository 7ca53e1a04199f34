"""PageRank over the match graph, for the match_graph score (scores.py)."""

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
