"""Encoding speed of the CPU backends (torch, ONNX Runtime fp32, ONNX Runtime int8) and how far
their vectors are from torch's.

    python bench/encoders.py [--catalog CATALOG.jsonl] [--queries QUERIES.jsonl] [--home DIR]

Per backend: capability texts of the catalog encoded in batches (config batch_size) -> texts/s,
one request at a time (what a search pays) -> p50/p95 ms, and the cosine of each vector to
torch's. The ONNX exports are made on first use under --home/onnx (timed separately). Match
quality per backend: bench/quality.py with MATCHGRAPH_BACKEND / MATCHGRAPH_ONNX_QUANTIZE.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import GORILLA, read_rows

from matchgraph.core.catalog import capability_texts, load_catalog
from matchgraph.core.config import DEFAULTS
from matchgraph.retrieval.embeddings import Embedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default=str(GORILLA / "catalog.jsonl"))
    parser.add_argument("--queries", default=str(GORILLA / "queries-dev.jsonl"))
    parser.add_argument("--home", type=Path, default=Path("/tmp/matchgraph-encoders"))
    parser.add_argument("--requests", type=int, default=100, help="single requests timed per backend")
    args = parser.parse_args()
    texts = capability_texts(load_catalog([args.catalog]))
    requests = [row["query"] for row in read_rows(args.queries)][:args.requests]
    batch = DEFAULTS["batch_size"]
    reference = None
    print(f"{len(texts)} capability texts, {len(requests)} requests, batch {batch}, device cpu")
    print("| backend | export (s) | batch: texts/s | one request p50 / p95 (ms) | cosine to torch: mean / min |")
    print("|---|---|---|---|---|")
    for backend, quantize in (("torch", False), ("onnx", False), ("onnx", True)):
        embedder = Embedder("default", None, batch, device="cpu", backend=backend,
                            onnx_home=args.home / "onnx", quantize=quantize)
        started = time.perf_counter()
        embedder.encode_query("warm up")  # loads (and on first use exports) the model
        export_s = time.perf_counter() - started
        started = time.perf_counter()
        vectors = embedder.encode(texts)
        rate = len(texts) / (time.perf_counter() - started)
        single = []
        for text in requests:
            started = time.perf_counter()
            embedder.encode_query(text)
            single.append((time.perf_counter() - started) * 1000)
        if reference is None:
            reference = vectors
        cos = (vectors * reference).sum(axis=1)
        name = f"{backend}{' int8' if quantize else ''}"
        print(f"| {name} | {export_s:.1f} | {rate:.0f} | {np.percentile(single, 50):.1f} / "
              f"{np.percentile(single, 95):.1f} | {cos.mean():.4f} / {cos.min():.4f} |", flush=True)


if __name__ == "__main__":
    main()
