"""HNSW against exact flat search on the same vectors and queries: recall@10 and time per query.

    python bench/ann_recall.py [--sizes 30000,300000] [--queries 500] [--centers NPY]
                               [--m 16,32] [--ef-construction 40,80] [--ef-search 64,128,256]
    python bench/ann_recall.py --vectors capabilities.npy --query-vectors queries.npy ...
    python bench/ann_recall.py --kind ivf [--ivf-lists 0,1024] [--ivf-probe 64,128,256] ...

The vectors are synthetic but shaped like capability embeddings: points scattered around
centres on the unit sphere (384 dimensions), queries drawn the same way. `--centers` takes
real vectors (e.g. an index version's capabilities.npy) as the centres instead of random ones.
`--vectors` indexes the given vectors themselves (the first --sizes of them) and `--query-vectors`
searches with the given ones (e.g. requests encoded by the model) instead of scattered points.
--m and --ef-construction take lists: one build per pair, timed with all cores (as create_ann builds).
Build and search run through matchgraph.retrieval.ann (the index search uses), one thread per search; the
IVF is built as the index build does (codes only, re-ranked with the vectors: `served_ivf`), and
with --vectors the exact top 10 comes from blocks of the (memory-mapped) file, not a flat copy.
recall@10 = share of flat's top 10 that HNSW also returns in its top 10, over all queries.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import numpy as np

from matchgraph.retrieval.ann import AnnSettings, create_ann, create_ann_streamed


def clustered(n: int, centers: np.ndarray, spread: float, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors, each a random centre plus Gaussian noise of `spread` per dimension."""
    picked = centers[rng.integers(0, len(centers), n)]
    points = picked + rng.normal(scale=spread, size=picked.shape).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def timed_search(ann, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Ids (n_queries, k) and milliseconds per query, one query at a time as search does."""
    out = np.empty((len(queries), k), dtype=np.int64)
    started = time.perf_counter()
    for i, q in enumerate(queries):
        out[i] = ann.search(q, k)[1][0]
    return out, (time.perf_counter() - started) * 1000 / len(queries)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 200_000) -> np.ndarray:
    """Flat search's ids (n_queries, k) by blocks of `vectors` (a memory map is fine): millions of
    vectors are never copied whole, as a FAISS flat index would."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        scores = queries @ np.asarray(vectors[start:start + chunk], dtype=np.float32).T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], axis=1)
        merged_ids = np.concatenate([best_ids, top + start], axis=1)
        keep = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best_scores, best_ids = np.take_along_axis(merged_scores, keep, 1), np.take_along_axis(merged_ids, keep, 1)
    return best_ids


def served_ivf(vectors: np.ndarray, settings: AnnSettings):
    """The IVF as an index build makes it (index_build.py): fed in chunks, codes only, re-ranked
    with the vectors it is attached to (a map of capabilities.npy when served; float16 by default,
    config ann.ivf_vectors: main attaches each type of --ivf-vectors in turn)."""
    n, dim = vectors.shape
    ann = create_ann_streamed(lambda: (vectors[i:i + 100_000] for i in range(0, n, 100_000)),
                              lambda rows: vectors[rows], n, dim, "ivf", settings)
    ann.attach(vectors)
    return ann


def home_requests(home: str, n: int) -> np.ndarray:
    """(n, dim) float32: the first n of a bench/scale.py home's searches and past requests,
    encoded by the model itself (the home's cache holds pseudo-vectors for the past requests)."""
    import json

    from matchgraph.engine.engine import Engine

    bench = json.loads((Path(home) / "bench.json").read_text())
    texts = [t for t, _ in bench["searches"] + bench["pool"]][:n]
    engine = Engine(Path(home))
    try:
        model = engine.embedder(engine.config["model"])
        return np.asarray(model._encode(texts), dtype=np.float32)  # the model, not the cache
    finally:
        engine.close()


def served_recall(folder: Path, queries: np.ndarray, args) -> None:
    """recall@k of a written version's ANN as a server loads it (codes, the mapped vectors in
    the type the build kept) against exact search by blocks of the same file, per --ivf-probe and
    --ivf-refine. "recall, ties" also counts a found vector whose exact cosine is within 1e-4 of
    the k-th best (the pseudo-vectors of bench/scale.py's small vocabulary tie often)."""
    from matchgraph.retrieval.ann import ANN, row_dots

    mapped = np.load(folder / "capabilities.npy", mmap_mode="r")
    ann = ANN.load(folder / "capabilities.faiss", AnnSettings())
    vectors = np.asarray(mapped)
    if ann.codes_only:
        ann.attach(vectors)
    started = time.perf_counter()
    truth = exact_top(mapped, queries, args.k)
    kth = np.array([row_dots(vectors, t, q).min() for t, q in zip(truth, queries)])
    print(f"{len(mapped):,} {mapped.dtype} vectors ({ann.kind}), {len(queries)} queries; exact top "
          f"{args.k} by blocks in {time.perf_counter() - started:.0f} s")
    print("| probe | refine | recall@10 | recall@10, ties | ms/query |\n|---|---|---|---|---|")
    for refine in map(float, args.ivf_refine.split(",")):
        ann.k_factor = refine
        for probe in map(int, args.ivf_probe.split(",")):
            if ann.kind == "ivf":
                faiss.extract_index_ivf(ann.index).nprobe = probe
            found, ms = timed_search(ann, queries, args.k)
            recall = np.mean([len(set(t) & set(f)) / args.k for t, f in zip(truth, found)])
            tied = np.mean([np.sum(row_dots(vectors, f[f >= 0], q) >= c - 1e-4) / args.k
                            for f, q, c in zip(found, queries, kth)])
            print(f"| {probe} | {refine:g} | {recall:.4f} | {tied:.4f} | {ms:.2f} |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30000,300000", help="vector counts (comma-separated)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--centers", help="NPY of real vectors to scatter around (default: random)")
    parser.add_argument("--vectors", help="NPY of vectors to index as they are (instead of synthetic ones)")
    parser.add_argument("--query-vectors", help="NPY of query vectors (instead of synthetic ones)")
    parser.add_argument("--queries-from", help="a bench/scale.py home: its requests (bench.json), encoded by "
                        "the home's model, are the queries (instead of synthetic ones)")
    parser.add_argument("--m", default=str(AnnSettings.hnsw_m), help="HNSW degrees (comma-separated)")
    parser.add_argument("--ef-construction", default=str(AnnSettings.hnsw_ef_construction),
                        help="HNSW build candidate lists (comma-separated)")
    parser.add_argument("--ef-search", default=f"128,{AnnSettings.hnsw_ef_search},512")
    parser.add_argument("--kind", choices=("hnsw", "ivf"), default="hnsw", help="the index measured against flat")
    parser.add_argument("--ivf-lists", default=str(AnnSettings.ivf_lists), help="IVF lists (0: 2 * sqrt(n))")
    parser.add_argument("--ivf-probe", default=f"64,{AnnSettings.ivf_probe},256", help="IVF lists scanned")
    parser.add_argument("--ivf-pq-dims", default=str(AnnSettings.ivf_pq_dims),
                        help="dimensions per 4-bit code of the IVF built (comma-separated: 4,2)")
    parser.add_argument("--ivf-refine", default=str(AnnSettings.ivf_refine),
                        help="with --served: re-rank depths, times the k asked for (comma-separated)")
    parser.add_argument("--ivf-vectors", default=AnnSettings.ivf_vectors,
                        help="float types the IVF re-ranks with (comma-separated: float16,float32)")
    parser.add_argument("--served", help="an index version folder (HOME/index/vN): measure its own ANN, "
                        "re-ranked with its mapped capabilities.npy, against exact search over that file "
                        "(no build; the queries from --queries-from)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=100,
                        help="also report recall@10 within HNSW's top this many (what search fetches)")
    args = parser.parse_args(argv)
    if args.served:
        return served_recall(Path(args.served), home_requests(args.queries_from, args.queries), args)
    rng = np.random.default_rng(0)
    if args.centers:
        centers = np.load(args.centers).astype(np.float32)
        spread = 0.02
    else:
        centers = rng.normal(size=(5000, 384)).astype(np.float32)
        centers /= np.linalg.norm(centers, axis=1, keepdims=True)
        spread = 0.04
    print("| vectors | M (HNSW) / re-rank type, code (IVF) | ef_construction (HNSW) / lists (IVF) | ef_search / probe "
          "| recall@10 "
          "| recall@10 in top candidates | ms/query | flat ms/query | build s |")
    print("|---|---|---|---|---|---|---|---|---|")
    given = np.load(args.vectors, mmap_mode="r") if args.vectors else None
    for size in (int(s) for s in args.sizes.split(",")):
        if given is not None:  # a map of the file: only the rows read are resident
            vectors = np.asarray(given[:size]) if given.dtype == np.float32 else given[:size].astype(np.float32)
        else:
            vectors = clustered(size, centers, spread, rng)
        queries = home_requests(args.queries_from, args.queries) if args.queries_from else \
            np.load(args.query_vectors).astype(np.float32)[:args.queries] if args.query_vectors \
            else clustered(args.queries, centers, spread, rng)
        if given is not None:  # exact top-k by blocks; flat's time per query is not measured
            truth, flat_ms = exact_top(vectors, queries, args.k), float("nan")
        else:
            flat = create_ann(vectors, "flat")
            truth, flat_ms = timed_search(flat, queries, args.k)
            del flat
        builds = [(m, e, AnnSettings(hnsw_m=m, hnsw_ef_construction=e)) for m in map(int, args.m.split(","))
                  for e in map(int, args.ef_construction.split(","))] if args.kind == "hnsw" else \
            [(per, lists, AnnSettings(ivf_lists=lists, ivf_pq_dims=per))
             for lists in map(int, args.ivf_lists.split(",")) for per in map(int, args.ivf_pq_dims.split(","))]
        for m, ef_construction, settings in builds:  # one build each, with all cores as create_ann builds
            started = time.perf_counter()
            ann = create_ann(vectors, args.kind, settings) if args.kind == "hnsw" else served_ivf(vectors, settings)
            build_s = time.perf_counter() - started
            for kept in ("-",) if args.kind == "hnsw" else args.ivf_vectors.split(","):
                if kept != "-":  # the same codes, re-ranked with the vectors in this float type
                    ann.attach(vectors if kept == "float32" else vectors.astype(kept))
                    m = f"{kept}, {settings.ivf_pq_dims} dims a code"
                for width in (int(e) for e in (args.ef_search if args.kind == "hnsw" else args.ivf_probe).split(",")):
                    if args.kind == "hnsw":
                        ann.index.hnsw.efSearch = width
                    else:
                        faiss.extract_index_ivf(ann.index).nprobe = width
                        ef_construction = faiss.extract_index_ivf(ann.index).nlist
                    found, ann_ms = timed_search(ann, queries, args.k)
                    wide, _ = timed_search(ann, queries, max(args.k, args.candidates))
                    recall = np.mean([len(set(t) & set(f)) / args.k for t, f in zip(truth, found)])
                    recall_wide = np.mean([len(set(t) & set(f)) / args.k for t, f in zip(truth, wide)])
                    print(f"| {size:,} | {m} | {ef_construction} | {width} | {recall:.4f} | {recall_wide:.4f} "
                          f"| {ann_ms:.2f} | {flat_ms:.2f} | {build_s:.1f} |", flush=True)
            del ann


if __name__ == "__main__":
    main()
