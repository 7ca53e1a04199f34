"""Approximate-nearest-neighbour index over L2-normalized vectors (inner product = cosine).

Backends sit behind `create_ann(kind)`: "flat" (exact, the default: catalogs of thousands of
capabilities search in well under a millisecond) and "hnsw" (for catalogs far past that).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

faiss.omp_set_num_threads(1)  # single-query searches: threads cost more than they save here


class ANN:
    """Holds a FAISS index; `search` returns (scores, ids) arrays of shape (n_queries, k), ids -1 when empty."""

    def __init__(self, index: faiss.Index):
        self.index = index

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size))
        if self.size == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.index.search(queries, k)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> "ANN":
        return cls(faiss.read_index(str(path)))


def create_ann(vectors: np.ndarray, kind: str = "flat") -> ANN:
    """Build an index over `vectors` (n, dim), L2-normalized float32."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown ann kind '{kind}' (flat|hnsw)")
    if len(vectors):
        index.add(vectors)
    return ANN(index)
