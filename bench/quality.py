"""Match quality on a labeled catalog: matchgraph cold and warm against the baselines a user would pick.

    python bench/quality.py [--catalog C] [--queries Q] [--train T] [--json OUT] [--no-txtai]

Indexes the catalog into a temporary home, evaluates the queries file with no events (cold), then
ingests the train file as the search log and evaluates again (warm). In the same run, on the same
catalog and queries: BM25 alone (bm25s), dense alone (same model, one text per artifact, FAISS
flat), dense + BM25 with reciprocal rank fusion (k=60) and txtai hybrid search (its own venv, see
bench/requirements-txtai.txt). Prints one table by history group (warm/cold, when the file marks
them) and overall; figures come from matchgraph.evaluate.metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bm25s
import faiss
import numpy as np
import Stemmer

from matchgraph import Engine
from matchgraph.catalog import Artifact, load_catalog
from matchgraph.embeddings import resolve_model
from matchgraph.evaluate import evaluate, read_labeled, report

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gorilla-hf"
TXTAI_VENV = Path(os.environ.get("TXTAI_VENV", "/tmp/txtai-venv"))
RRF_K = 60
DEPTH = 100  # candidates each retriever passes to RRF
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def document(artifact: Artifact) -> str:
    """The baselines' one text per artifact: name, task, tags, description and capability texts."""
    parts = [artifact.name, artifact.task or "", " ".join(artifact.tags), artifact.description]
    return " ".join(p for p in parts + [c.text() for c in artifact.capabilities] if p)


class Baselines:
    """BM25, dense and their RRF over one document per artifact; each `rank_*` returns ids."""

    def __init__(self, artifacts: list[Artifact], embedder):
        self.ids = [a.id for a in artifacts]
        docs = [document(a) for a in artifacts]
        self.stemmer = Stemmer.Stemmer("english")
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(docs, stopwords="en", stemmer=self.stemmer,
                                       show_progress=False), show_progress=False)
        self.embedder = embedder
        vectors = embedder.encode(docs, progress=True)
        self.faiss = faiss.IndexFlatIP(vectors.shape[1])
        self.faiss.add(vectors)

    def _bm25(self, query: str) -> list[int]:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self.stemmer, show_progress=False,
                                return_ids=False)[0]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        return [int(i) for i in np.argsort(-scores, kind="stable")[:DEPTH] if scores[i] > 0]

    def _dense(self, query: str) -> list[int]:
        _, ids = self.faiss.search(self.embedder.encode_query(query)[None, :], DEPTH)
        return [int(i) for i in ids[0] if i >= 0]

    def rank_bm25(self, query: str) -> list[str]:
        return [self.ids[i] for i in self._bm25(query)]

    def rank_dense(self, query: str) -> list[str]:
        return [self.ids[i] for i in self._dense(query)]

    def rank_rrf(self, query: str) -> list[str]:
        fused: dict[int, float] = {}
        for ranking in (self._bm25(query), self._dense(query)):
            for position, i in enumerate(ranking, start=1):
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + position)
        return [self.ids[i] for i in sorted(fused, key=lambda i: -fused[i])]


def ensure_txtai_venv() -> Path | None:
    """The txtai venv's python, created on first use (torch CPU first); None when it cannot be."""
    python = TXTAI_VENV / "bin" / "python"
    if python.exists():
        return python
    requirements = Path(__file__).with_name("requirements-txtai.txt")
    steps = [[sys.executable, "-m", "venv", str(TXTAI_VENV)],
             [str(TXTAI_VENV / "bin" / "pip"), "install", "-q", "torch==2.13.0"],
             [str(TXTAI_VENV / "bin" / "pip"), "install", "-q", "-r", str(requirements)]]
    for step in steps:
        print("txtai venv:", " ".join(step), file=sys.stderr)
        if subprocess.run(step).returncode != 0:
            return None
    return python


def run_txtai(artifacts: list[Artifact], queries, k: int) -> dict | None:
    python = ensure_txtai_venv()
    if python is None:
        print("txtai: its venv could not be created; baseline skipped", file=sys.stderr)
        return None
    job = {"model": resolve_model("default"), "k": k, "queries": [q.query for q in queries],
           "docs": [[a.id, document(a)] for a in artifacts]}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([str(python), str(Path(__file__).with_name("txtai_hybrid.py"))],
                          input=json.dumps(job), capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print("txtai failed:\n" + done.stderr[-2000:], file=sys.stderr)
        return None
    out = json.loads(done.stdout)
    return report(out["ranked"], out["latency_ms"], queries)


def table(results: dict[str, dict]) -> str:
    """Markdown table: one row per (system, group)."""
    head = "| system | group | n | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | p50 ms |"
    lines = [head, "|" + "---|" * 9]
    for name, res in results.items():
        groups = [("all", res["overall"])] + sorted(res.get("groups", {}).items(), reverse=True)
        for group, m in groups:
            cells = " | ".join(f"{m[key]:.3f}" for key in METRICS)
            lines.append(f"| {name} | {group} | {m['queries']} | {cells} | {m['latency_ms']['p50']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=str(DATA / "catalog.jsonl"))
    parser.add_argument("--queries", default=str(DATA / "queries-dev.jsonl"))
    parser.add_argument("--train", default=str(DATA / "queries-train.jsonl"),
                        help="search log ingested for the warm run")
    parser.add_argument("--home", help="home folder (default: a temporary one)")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--no-txtai", action="store_true")
    parser.add_argument("--json", help="also write all figures as JSON to this file")
    args = parser.parse_args(argv)

    queries = read_labeled(args.queries)
    with tempfile.TemporaryDirectory(prefix="mg-quality-") as tmp:
        engine = Engine(args.home or tmp)
        engine.index([args.catalog], progress=True)
        artifacts = load_catalog([args.catalog])
        results: dict[str, dict] = {}
        base = Baselines(artifacts, engine.embedder())
        for name, rank in (("BM25 (bm25s)", base.rank_bm25), ("dense (FAISS flat)", base.rank_dense),
                           ("BM25 + dense, RRF k=60", base.rank_rrf)):
            results[name] = evaluate(queries, rank, args.k)
        if not args.no_txtai:
            txtai = run_txtai(artifacts, queries, args.k)
            if txtai:
                results["txtai hybrid"] = txtai
        results["matchgraph cold (no events)"] = engine.evaluate(args.queries, args.k)
        started = time.perf_counter()
        ingested = engine.ingest(args.train)
        engine.refresh()
        print(f"ingested {ingested} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        results["matchgraph warm (train log)"] = engine.evaluate(args.queries, args.k)
        config = results["matchgraph warm (train log)"].pop("config")
        results["matchgraph cold (no events)"].pop("config")
        engine.close()
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"config": config, "results": results}, indent=2))


if __name__ == "__main__":
    main()
