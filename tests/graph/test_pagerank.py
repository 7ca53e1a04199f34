"""Parity of our sparse PageRank with networkx.pagerank (the reference) on real match graphs."""

import networkx as nx
import numpy as np
from scipy import sparse

from matchgraph.graph.pagerank import bipartite_pagerank


def _reference(weights: sparse.csr_matrix, alpha: float) -> np.ndarray:
    n_q, n_a = weights.shape
    graph = nx.from_scipy_sparse_array(sparse.bmat([[None, weights], [weights.T, None]], format="csr"))
    ranks = nx.pagerank(graph, alpha=alpha, weight="weight", tol=1e-10, max_iter=1000)
    return np.array([ranks[n_q + j] for j in range(n_a)])


def test_matches_networkx_on_the_demo_graph(demo_engine):
    weights = demo_engine.state.graph.weights
    for alpha in (0.85, 0.5):
        ours = bipartite_pagerank(weights, alpha)
        assert np.allclose(ours, _reference(weights, alpha), atol=1e-8)


def test_matches_networkx_on_a_random_graph_with_isolated_artifacts():
    rng = np.random.default_rng(7)
    dense = rng.random((300, 120)) * (rng.random((300, 120)) < 0.03)
    dense[:, :10] = 0  # artifacts never matched
    weights = sparse.csr_matrix(dense)
    assert np.allclose(bipartite_pagerank(weights), _reference(weights, 0.85), atol=1e-8)


def test_empty_graph_gives_zeros():
    assert not bipartite_pagerank(sparse.csr_matrix(np.zeros((0, 5)))).any()
