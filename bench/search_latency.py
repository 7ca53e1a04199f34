"""In-process search latency on a synthetic catalog, query encoding excluded (no model involved).

    python bench/search_latency.py [--sizes 10000,100000] [--queries 300] [--folder DIR]

Per size: a seeded catalog of N artifacts with 3 capabilities each (made-up words, so BM25 and
the name index do real work; 60 tasks, all kinds and pricings), clustered unit vectors standing in
for the capability embeddings, written with matchgraph.retrieval.index.write_index (ANN by size, BM25
saved) and loaded with LoadedIndex.load. Queries are 6-14 words of the vocabulary, a third of them
naming an artifact, each with a vector near one capability. Prints write and load seconds and
search p50/p95/p99 in ms without and with a kind filter (no events: the cold path), wall clock
and, in brackets, the searching thread's CPU time (what a busy shared machine does not inflate). bench/scale.py
measures the whole system (encoding, events, HTTP).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from matchgraph.core.catalog import Artifact
from matchgraph.core.config import DEFAULTS, bm25_settings
from matchgraph.retrieval.ann import AnnSettings
from matchgraph.retrieval.index import LoadedIndex, write_index
from matchgraph.search.artifacts import Filters, search

KINDS, PRICINGS = ("model", "tool", "api", "dataset", "app"), ("free", "freemium", "paid", "unknown")


def words(rng: np.random.Generator, n: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ra", "to", "ne", "su", "vi", "po", "de", "an", "or", "el", "ux", "qi"]
    return sorted({"".join(rng.choice(syllables, rng.integers(2, 5))) for _ in range(n)})


def catalog(n: int, rng: np.random.Generator) -> tuple[list[Artifact], list[str]]:
    vocab = words(rng, 6000)
    tasks = [f"{vocab[i]}-{vocab[i + 1]}" for i in range(0, 120, 2)]

    def text(lo, hi):
        return " ".join(rng.choice(vocab, rng.integers(lo, hi)))

    artifacts = []
    for i in range(n):
        name = f"{rng.choice(vocab)}-{rng.choice(vocab)}-{i}"
        artifacts.append(Artifact.model_validate({
            "id": f"org{i % 997}/{name}", "name": name, "kind": KINDS[i % 5], "pricing": PRICINGS[i % 4],
            "task": tasks[int(rng.integers(0, len(tasks)))], "tags": list(rng.choice(vocab, 3)),
            "description": text(8, 20),
            "capabilities": [{"id": f"c{j}", "title": text(2, 5), "description": text(10, 25)}
                             for j in range(3)]}))
    return artifacts, vocab


def vectors_for(n_rows: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.normal(size=(2000, 384)).astype(np.float32)
    points = centers[rng.integers(0, len(centers), n_rows)] + rng.normal(scale=0.025, size=(n_rows, 384)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def percentiles(ms: list[float]) -> str:
    return " / ".join(f"{np.percentile(ms, p):.2f}" for p in (50, 95, 99))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--folder", help="where to write the index (default: a temporary folder)")
    args = parser.parse_args(argv)
    config = DEFAULTS
    print("| artifacts | capabilities | ANN | write s | load s | search p50 / p95 / p99 ms | with kind filter |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        rng = np.random.default_rng(n)
        artifacts, vocab = catalog(n, rng)
        vectors = vectors_for(3 * n, rng)
        with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
            folder = Path(tmp)
            started = time.perf_counter()
            write_index(folder, artifacts, vectors, {"model": "synthetic"}, bm25_settings(config),
                        AnnSettings.from_config(config))
            written = time.perf_counter() - started
            started = time.perf_counter()
            index = LoadedIndex.load(1, folder, bm25_settings(config), AnnSettings.from_config(config))
            loaded = time.perf_counter() - started
            prior = np.full(n, 50.0)
            queries = []
            for q in range(args.queries):
                text = " ".join(rng.choice(vocab, rng.integers(6, 15)))
                if q % 3 == 0:
                    text += " " + artifacts[int(rng.integers(0, n))].name.replace("-", " ")
                row = int(rng.integers(0, len(vectors)))
                vector = vectors[row] + rng.normal(scale=0.02, size=384).astype(np.float32)
                queries.append((text, vector / np.linalg.norm(vector)))
            search(index, None, queries[0][1], queries[0][0], 10, Filters(), config, prior)  # warm-up
            timings = {}
            for label, filters in (("all", Filters()), ("kind", Filters(kind="tool"))):
                ms, cpu = [], []
                for text, vector in queries:
                    started, started_cpu = time.perf_counter(), time.thread_time()
                    search(index, None, vector, text, 10, filters, config, prior)
                    ms.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.thread_time() - started_cpu) * 1000)
                timings[label] = f"{percentiles(ms)} (CPU {percentiles(cpu)})"
            print(f"| {n:,} | {3 * n:,} | {index.ann.kind} | {written:.1f} | {loaded:.1f} | {timings['all']} "
                  f"| {timings['kind']} |", flush=True)


if __name__ == "__main__":
    main()
