"""Cost of fitting the adapter (matchgraph/learn/adapter.py) by log and catalog size; prints one table.

    python bench/adapter_fit.py [--steps 150]
    python bench/adapter_fit.py --latency-home HOME [--queries Q]   # searches while fits run


Synthetic unit vectors (dim 384), one select per past query, two capabilities per artifact; the
fit is the one `Engine` runs at a graph build when no stored fit matches. Rows past
`adapter_max_capabilities` (4096) take the budgeted softmax; rows past `adapter_max_queries`
(2000) fit only the 2000 queries with the most weight. `--latency-home` (a home with an index and
events) times searches idle and while fits run on another thread of the same process, as a
server's background refresh does.
"""

from __future__ import annotations

import argparse
import threading
import time
from types import SimpleNamespace

import numpy as np
from common import GORILLA, read_rows
from scipy import sparse

from matchgraph import Engine
from matchgraph.core.config import DEFAULTS
from matchgraph.learn.adapter import fit_adapter, learn
from matchgraph.learn.fits import past_requests
from matchgraph.retrieval.ann import create_ann

DIM = 384


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def catalog(rng: np.random.Generator, n_artifacts: int) -> SimpleNamespace:
    vectors = unit(rng, 2 * n_artifacts)
    count = np.full(n_artifacts, 2)
    return SimpleNamespace(vectors=vectors, cap_count=count, cap_start=np.cumsum(count) - count,
                           artifacts=[None] * n_artifacts, ann=create_ann(vectors, "flat"))


def search_latency(home: str, queries_file: str) -> None:
    """p50/p95 of searches (ms) with no fit running, then while fits run back to back."""
    engine = Engine(home)
    state = engine.state
    queries = [row["query"] for row in read_rows(queries_file)]

    def timed() -> np.ndarray:
        out = []
        for query in queries:
            started = time.perf_counter()
            engine.search(query, record=False)
            out.append((time.perf_counter() - started) * 1000)
        return np.percentile(out, [50, 95])

    print("searches idle:        p50 %.1f ms, p95 %.1f ms" % tuple(timed()), flush=True)
    stop = threading.Event()

    def fits() -> None:
        while not stop.is_set():
            learn(state.index, past_requests(state.graph, engine.config["search"]["input_markers"]),
                  state.graph.query_vectors, state.graph.weights,
                  engine.config["search"], engine.embedder().model)

    worker = threading.Thread(target=fits)
    worker.start()
    print("searches during fits: p50 %.1f ms, p95 %.1f ms" % tuple(timed()), flush=True)
    stop.set()
    worker.join()
    engine.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DEFAULTS["search"]["adapter_steps"])
    parser.add_argument("--latency-home", help="time searches on this home while fits run")
    parser.add_argument("--queries", default=str(GORILLA / "queries-dev.jsonl"))
    args = parser.parse_args(argv)
    if args.latency_home:
        return search_latency(args.latency_home, args.queries)
    conf = dict(DEFAULTS["search"], adapter_steps=args.steps)
    rng = np.random.default_rng(0)
    print("| past queries | logged artifacts | catalog capabilities | in softmax | fit s |")
    print("|---|---|---|---|---|")
    for n_queries, n_artifacts in ((554, 468), (554, 2048), (2000, 2048), (2000, 20000), (10000, 20000)):
        index = catalog(rng, n_artifacts)
        chosen = rng.integers(0, min(n_artifacts, 500), n_queries)  # a log covers a few hundred
        weights = sparse.csr_matrix((np.ones(n_queries), (np.arange(n_queries), chosen)),
                                    shape=(n_queries, n_artifacts))
        queries = unit(rng, n_queries)
        started = time.perf_counter()
        fit_adapter(index, queries, weights, conf)
        seconds = time.perf_counter() - started
        in_softmax = min(len(index.vectors), conf["adapter_max_capabilities"])
        budget = "all" if len(index.vectors) <= conf["adapter_max_capabilities"] else f"<= ~{in_softmax}"
        print(f"| {n_queries:,} | {len(np.unique(chosen))} | {len(index.vectors):,} | {budget} | {seconds:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
