"""PageRank for the match_graph score: our sparse power iteration vs networkx.pagerank, same run.

    python bench/pagerank.py [--queries 10000] [--artifacts 20000] [--edges 400000]

A Zipf-shaped random query x artifact weight matrix like the 1M-event graph of
bench/ingest_graph.py; prints seconds for each, their ratio, and each one's error against a converged run.
"""

from __future__ import annotations

import argparse
import time

import networkx as nx
import numpy as np
from scipy import sparse

from matchgraph.graph.pagerank import bipartite_pagerank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--artifacts", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=400_000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    rows = np.minimum(rng.zipf(1.1, args.edges) - 1, args.queries - 1)
    cols = np.minimum(rng.zipf(1.1, args.edges) - 1, args.artifacts - 1)
    weights = sparse.csr_matrix((rng.integers(1, 5, args.edges).astype(np.float32), (rows, cols)),
                                shape=(args.queries, args.artifacts))
    start = time.perf_counter()
    ours = bipartite_pagerank(weights)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    graph = nx.from_scipy_sparse_array(sparse.bmat([[None, weights], [weights.T, None]], format="csr"))
    ranks = nx.pagerank(graph, weight="weight")
    reference = np.array([ranks[args.queries + j] for j in range(args.artifacts)])
    nx_s = time.perf_counter() - start
    print(f"graph: {args.queries} queries x {args.artifacts} artifacts, {weights.nnz} edges")
    print(f"matchgraph sparse power iteration: {ours_s:.3f} s")
    print(f"networkx from_scipy_sparse_array + pagerank: {nx_s:.3f} s")
    tight = nx.pagerank(graph, weight="weight", tol=1e-12, max_iter=2000)  # converged reference, untimed
    converged = np.array([tight[args.queries + j] for j in range(args.artifacts)])
    print(f"ratio networkx / matchgraph: {nx_s / ours_s:.1f}x")
    print(f"max |error| against a converged networkx run (tol 1e-12): matchgraph "
          f"{np.abs(ours - converged).max():.1e}, networkx defaults {np.abs(reference - converged).max():.1e}")


if __name__ == "__main__":
    main()
