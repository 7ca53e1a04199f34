"""Approximate-nearest-neighbour index over L2-normalized vectors (inner product = cosine).

By size (config `ann.*`): exact flat search up to `ann.flat_max` vectors (thousands of
capabilities search in well under a millisecond, and the ranking stays exact where quality was
measured), `ann.large` above it (a flat scan of 300,000 capabilities costs ~20 ms a query on one
core): HNSW, or IVF -- an inverted file over 4-bit product-quantized codes (FAISS fast scan)
whose best candidates are re-ranked with the exact vectors, which builds in seconds where HNSW
takes a minute or more at 300,000 vectors. HNSW keeps the float32 vectors in row order, so search
reads them from the index (`stored_vectors`). An IVF built for a catalog (`create_ann_streamed`)
keeps only its codes and re-ranks with vectors it is given (`attach`: a served index maps
capabilities.npy, float16 from 1M vectors: `ann.ivf_vectors`), as IndexRefineFlat would with its own
copy (the past-query index, built in memory by `create_ann`, still holds one): 4.6 GB not held
at 3,000,000 capabilities, and 2.3 GB mapped instead of 4.6 GB.
bench/ann_recall.py prints recall@10 against flat (BENCHMARKS.md: IVF 0.987, HNSW 0.723 at
300,000 bench vectors).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import faiss
import numpy as np

from ..core.config import DEFAULTS

_DEFAULT = DEFAULTS["ann"]
faiss.omp_set_num_threads(1)  # single-query searches: threads cost more than they save here
# float_rows reads a read-only memory map through torch, which warns that it could write to it.
warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
IVF_MIN = 1000  # vectors below which an "ivf" index is built flat (4-bit codes train on >= 16 each)
IVF_RERANK_K = 100  # an IVF search for fewer re-ranks as many candidates as one for this many
HALF_FROM = 1_000_000  # vectors from which ann.ivf_vectors = "auto" keeps them as float16


@dataclass(frozen=True)
class AnnSettings:
    """Config `ann`: where HNSW takes over and its parameters (defaults and meaning: config.SETTINGS;
    ef_search 256 gave recall@10 0.982 against flat at 30k vectors, bench/ann_recall.py)."""

    flat_max: int = _DEFAULT["flat_max"]  # vectors up to which the index is exact (flat)
    large: str = _DEFAULT["large"]  # above flat_max: "hnsw" or "ivf"
    hnsw_m: int = _DEFAULT["hnsw_m"]
    hnsw_ef_construction: int = _DEFAULT["hnsw_ef_construction"]
    hnsw_ef_search: int = _DEFAULT["hnsw_ef_search"]  # at least the k asked for
    ivf_lists: int = _DEFAULT["ivf_lists"]  # inverted lists; 0: sqrt(vectors)
    ivf_probe: int = _DEFAULT["ivf_probe"]  # lists scanned per search
    ivf_refine: float = _DEFAULT["ivf_refine"]  # candidates re-ranked exactly, times the k asked for
    ivf_pq_dims: int = _DEFAULT["ivf_pq_dims"]  # dimensions per 4-bit code: 2 -> 192 codes of 384 dims
    ivf_vectors: str = _DEFAULT["ivf_vectors"]  # the re-rank vectors a codes-only IVF's version keeps

    def keeps_half(self, n: int) -> bool:
        """Whether a codes-only IVF over n vectors keeps them as float16 (`ivf_vectors`; auto:
        from HALF_FROM). Below it the float32 rows cost little memory, and FAISS reads them in
        place faster: at 100k artifacts float16 searches took ~12.5 against ~9.8 ms (p50, with
        the log, the same process and window)."""
        return self.ivf_vectors == "float16" or (self.ivf_vectors == "auto" and n >= HALF_FROM)

    @classmethod
    def from_config(cls, config: dict) -> "AnnSettings":
        return cls(**config.get("ann", {}))


class ANN:
    """Holds a FAISS index; `search` returns (scores, ids) arrays of shape (n_queries, k), ids -1 when empty."""

    def __init__(self, index: faiss.Index, ef_search: int | None = None, probe: int | None = None,
                 refine: float | None = None, vectors: np.ndarray | None = None):
        self.index = index
        # A codes-only IVF (`create_ann_streamed`) re-ranks with these row-order vectors, which
        # the caller holds (a served index maps capabilities.npy): the index holds no copy.
        self.vectors = vectors
        self.k_factor = float(refine if refine is not None else _DEFAULT["ivf_refine"])
        if ef_search is not None and self.kind == "hnsw":
            index.hnsw.efSearch = int(ef_search)
        if self.kind == "ivf":
            if probe is not None:
                faiss.extract_index_ivf(index).nprobe = int(probe)
            if refine is not None and isinstance(index, faiss.IndexRefine):
                index.k_factor = float(refine)

    @property
    def kind(self) -> str:
        if isinstance(self.index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self.index, (faiss.IndexRefine, faiss.IndexIVF)) else "flat"

    @property
    def codes_only(self) -> bool:
        """An IVF without its own copy of the vectors: re-ranked with `vectors` (see attach)."""
        return isinstance(self.index, faiss.IndexIVF)

    def attach(self, vectors: np.ndarray) -> None:
        """Give a codes-only IVF the (size, dim) row-order vectors it re-ranks with, float32 or
        float16 (a read-only memory map of capabilities.npy is enough: it reads only the
        candidates' rows)."""
        if len(vectors) != self.size:
            raise ValueError(f"{len(vectors)} vectors for an index of {self.size}")
        self.vectors = vectors
        if len(vectors):
            float_rows(vectors, [0])  # float16: torch's import (~1 s) at the load, not in the first search

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size))
        if self.size == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if self.kind == "hnsw" and self.index.hnsw.efSearch < k:
            # HNSW returns at most efSearch neighbours: widen it for this call only.
            params = faiss.SearchParametersHNSW(efSearch=k)
            return self.index.search(queries, k, params=params)
        if self.codes_only:
            return self._refined(queries, k)
        if self.kind == "ivf" and k < IVF_RERANK_K:
            # A short list re-ranks as many candidates as search's 100 do: 4-bit codes order the
            # first few too roughly (recall@10 0.79 re-ranking 120 at 300,000 vectors, 0.985 at 1,200).
            params = faiss.IndexRefineSearchParameters(k_factor=float(self.index.k_factor) * IVF_RERANK_K / k)
            return self.index.search(queries, k, params=params)
        return self.index.search(queries, k)

    def _refined(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """IndexRefineFlat's search with the vectors outside the index: the IVF's k * k_factor
        best by code (as many as for IVF_RERANK_K when k is smaller), re-ranked by exact inner
        product, best k kept (ties in the IVF's order)."""
        if self.vectors is None:
            raise RuntimeError("a codes-only IVF searched before attach(vectors)")
        k_base = min(self.size, int(max(k, IVF_RERANK_K) * self.k_factor))
        _, candidates = self.index.search(queries, k_base)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for i, (query, found) in enumerate(zip(queries, candidates)):
            found = found[found >= 0]
            exact = row_dots(self.vectors, found, query)
            best = np.argsort(-exact, kind="stable")[:k]
            scores[i, :len(best)], ids[i, :len(best)] = exact[best], found[best]
        return scores, ids

    def stored_vectors(self) -> np.ndarray | None:
        """(size, dim) float32, read-only: the vectors a flat or HNSW-flat index holds, as a view of
        its own memory (the view keeps the index alive); None for an index that stores codes.
        Search reads capability vectors from here, so a process holds them once, not a second
        time through capabilities.npy (460 MB at 300,000 capabilities)."""
        storage = self.index.storage if isinstance(self.index, faiss.IndexHNSW) else \
            self.index.refine_index if isinstance(self.index, faiss.IndexRefine) else self.index
        storage = faiss.downcast_index(storage)
        if not isinstance(storage, faiss.IndexFlat) or self.size == 0:
            return None
        shape = (self.size, int(storage.d))
        address = faiss.rev_swig_ptr(storage.get_xb(), shape[0] * shape[1]).__array_interface__["data"][0]
        return np.asarray(_Held(self, address, shape))

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, settings: AnnSettings | None = None) -> "ANN":
        settings = settings or AnnSettings()
        return cls(faiss.read_index(str(path)), settings.hnsw_ef_search, settings.ivf_probe, settings.ivf_refine)


def row_dots(vectors: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(len(rows),) float32: vectors[rows] @ query. float32 rows are read in place by FAISS
    (rescoring a search's ~3,000 candidate capabilities through a gathered copy cost 4.6 MB a
    query); float16 rows (a served IVF's vectors, `ann.ivf_vectors`) go through `float_rows`."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    query = np.ascontiguousarray(query, dtype=np.float32)
    if vectors.dtype == np.float16:
        return _half_row_dots(vectors, rows, query)
    if (vectors.dtype != np.float32 or not vectors.flags.c_contiguous or vectors.ndim != 2
            or query.shape != (vectors.shape[1],) or not len(rows)):
        return np.asarray(vectors[rows] @ query, dtype=np.float32)
    if rows.min() < 0 or rows.max() >= len(vectors):
        raise IndexError("capability row out of range")
    out = np.empty(len(rows), dtype=np.float32)
    faiss.fvec_inner_products_by_idx(faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(vectors),
                                     faiss.swig_ptr(rows), vectors.shape[1], 1, len(rows))
    return out


def _half_row_dots(vectors: np.ndarray, rows: np.ndarray, query: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """row_dots over float16 rows: gathered and widened by torch `chunk` rows at a time, so the
    widened block stays in cache (at 1M artifacts a search's ~9,100 candidate rows took 1.7 ms
    this way, 2.3 ms widened whole, against 1.3 ms for FAISS over float32 rows)."""
    import torch

    out = np.empty(len(rows), dtype=np.float32)
    table, picked, into = torch.from_numpy(vectors), torch.from_numpy(rows), torch.from_numpy(out)
    q = torch.from_numpy(query)
    for start in range(0, len(rows), chunk):
        block = torch.index_select(table, 0, picked[start:start + chunk]).float()
        torch.mv(block, q, out=into[start:start + chunk])
    return out


def float_rows(vectors: np.ndarray, rows) -> np.ndarray:
    """(len(rows), dim) float32 copy of vectors[rows] (rows: integer indices; a slice or an int
    also works), whatever the vectors' float type. float16 rows are gathered and widened by torch
    (F16C): 0.67 ms for 3,000 rows of 384 where FAISS reads float32 ones in 1.16 ms and numpy's
    cast alone takes ~6 ms. torch comes with sentence-transformers; imported on first use."""
    if vectors.dtype != np.float16:
        return np.asarray(vectors[rows], dtype=np.float32)
    import torch

    if isinstance(rows, slice):
        return torch.from_numpy(np.ascontiguousarray(vectors[rows])).float().numpy()
    picked = np.asarray(rows, dtype=np.int64)
    table = torch.from_numpy(vectors)  # a read-only map: torch only reads it (see the filter above)
    return torch.index_select(table, 0, torch.from_numpy(picked.reshape(-1))).float().numpy().reshape(
        *picked.shape, vectors.shape[1])


class _Held:
    """An array interface over memory owned by a FAISS index; numpy keeps this object (and so
    the ANN and its index) as the array's base for as long as any view of it lives."""

    def __init__(self, owner: ANN, address: int, shape: tuple[int, int]):
        self.owner = owner
        self.__array_interface__ = {"data": (address, True), "shape": shape, "typestr": "<f4", "version": 3}


def create_ann(vectors: np.ndarray, kind: str = "auto", settings: AnnSettings | None = None) -> ANN:
    """Build an index over `vectors` (n, dim), L2-normalized float32. `kind`: "flat", "hnsw", "ivf"
    or "auto" (flat up to settings.flat_max vectors, settings.large above)."""
    settings = settings or AnnSettings()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    kind = _kind(len(vectors), kind, settings)
    if kind in ("flat", "hnsw"):
        index = _graph_or_flat(kind, dim, settings)
    elif kind == "ivf":
        index = _ivf(vectors, settings)
    else:
        raise ValueError(f"unknown ann kind '{kind}' (auto|flat|hnsw|ivf)")
    if len(vectors):
        with _batch_threads() if kind in ("hnsw", "ivf") else nullcontext():
            if kind == "ivf":
                index.train(vectors[_training_rows(len(vectors), faiss.extract_index_ivf(index).nlist)])
            index.add(vectors)
    return ANN(index, settings.hnsw_ef_search, settings.ivf_probe, settings.ivf_refine)


def _graph_or_flat(kind: str, dim: int, settings: AnnSettings):
    """An empty exact (flat) or HNSW inner-product index: the kinds that hold their vectors."""
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = settings.hnsw_ef_construction
    return index


def create_ann_streamed(chunks: Callable[[], Iterator[np.ndarray]], sample: Callable[[np.ndarray], np.ndarray],
                        n: int, dim: int, kind: str = "auto", settings: AnnSettings | None = None) -> ANN:
    """The index `create_ann` builds over n vectors, fed in chunks so that the caller never holds
    them all: `chunks()` yields the (rows, dim) float32 row blocks in order, `sample(rows)` returns
    the given sorted rows (IVF training: 40 a list, a sample, not the set). An IVF keeps its codes
    only (no refine copy of the vectors): `attach` the vectors before searching it (LoadedIndex
    maps capabilities.npy). Flat and HNSW hold the vectors themselves, as they must."""
    settings = settings or AnnSettings()
    kind = _kind(n, kind, settings)
    if kind in ("flat", "hnsw"):
        index = _graph_or_flat(kind, dim, settings)
    elif kind == "ivf":
        lists = _list_count(n, settings.ivf_lists)
        index = faiss.index_factory(dim, f"IVF{lists},{_codes(dim, settings)}", faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown ann kind '{kind}' (auto|flat|hnsw|ivf)")
    if n:
        with _batch_threads() if kind in ("hnsw", "ivf") else nullcontext():
            if kind == "ivf":
                index.train(np.ascontiguousarray(sample(_training_rows(n, index.nlist)), dtype=np.float32))
            for block in chunks():
                index.add(np.ascontiguousarray(block, dtype=np.float32))
    if index.ntotal != n:
        raise ValueError(f"{index.ntotal} vectors added, {n} announced")
    return ANN(index, settings.hnsw_ef_search, settings.ivf_probe, settings.ivf_refine)


def refill_ann(vectors: np.ndarray, previous: ANN | None, settings: AnnSettings | None = None) -> ANN:
    """An index over `vectors` like `create_ann(vectors, "auto", settings)`, but when `previous` is
    an IVF whose list count is within a factor of 2 of what this size would get, its trained lists
    and codebooks are reused and only the vectors are added again: training is most of an IVF
    build (0.7 s of a 1.5 s refresh at 23,000 past queries), and a few new rows do not move the
    centroids that matter. A full build (a load) trains afresh."""
    settings = settings or AnnSettings()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    fits = previous is not None and previous.kind == "ivf" and previous.index.d == vectors.shape[1] \
        and _kind(len(vectors), "auto", settings) == "ivf"
    if fits:
        wanted = _list_count(len(vectors), settings.ivf_lists)
        fits = wanted / 2 <= faiss.extract_index_ivf(previous.index).nlist <= wanted * 2
    if not fits:
        return create_ann(vectors, "auto", settings)
    index = faiss.clone_index(previous.index)
    index.reset()
    with _batch_threads():
        index.add(vectors)
    return ANN(index, settings.hnsw_ef_search, settings.ivf_probe, settings.ivf_refine)


def _kind(n: int, kind: str, settings: AnnSettings) -> str:
    """The index `create_ann` builds for n vectors when asked for `kind`."""
    if kind == "auto":
        kind = "flat" if n <= settings.flat_max else settings.large
    if kind == "ivf" and n < IVF_MIN:
        kind = "flat"  # too few to train lists and codes on; exact search is cheap there anyway
    return kind


def _list_count(n: int, lists: int) -> int:
    """IVF lists for n vectors: `lists`, or sqrt(n) when 0 -- training and adding cost ~n * lists;
    at 300,000 vectors twice as many lists built 4x slower (61.9 against 15.6 s) for lower recall
    at the same probe (bench/ann_recall.py) -- and never fewer than ~39 training points a list,
    as FAISS wants."""
    return min(lists or max(1, int(round(np.sqrt(n)))), max(1, n // 39))


@contextmanager
def _batch_threads():
    """Every core for FAISS while building or filling an index (batch work), one again after."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(1)


def _codes(dim: int, settings: AnnSettings) -> str:
    """The IVF's code: 4-bit product quantization over `ann.ivf_pq_dims` dimensions a code (FAISS
    fast scan, which needs an even number of codes), 8-bit scalar codes where that does not divide."""
    per = settings.ivf_pq_dims
    return f"PQ{dim // per}x4fs" if dim % (2 * per) == 0 else "SQ8"


def _ivf(vectors: np.ndarray, settings: AnnSettings) -> faiss.Index:
    """An untrained IVF over `_codes` whose `ivf_refine` * k best candidates are re-ranked with a
    flat copy of the vectors -- also the row-order storage search reads."""
    dim = vectors.shape[1]
    lists = _list_count(len(vectors), settings.ivf_lists)
    index = faiss.index_factory(dim, f"IVF{lists},{_codes(dim, settings)},RFlat", faiss.METRIC_INNER_PRODUCT)
    index.k_factor = float(settings.ivf_refine)
    return index


def _training_rows(n: int, lists: int) -> np.ndarray:
    """Rows the k-means trains on: 40 per list, seeded (all rows when there are fewer)."""
    if n <= 40 * lists:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, 40 * lists, replace=False))
