"""Match quality on every labeled set: matchgraph cold and warm against the baselines a user would pick.

    python bench/quality.py [--sets gorilla-hf,seal-tools] [--split dev] [--cache-home DIR]
                            [--json OUT] [--txtai] [--encode-once]
    python bench/quality.py --catalog C --queries Q --train T      # one set given by its files

A set is a folder of ../shared/data (or a path) holding catalog.jsonl, queries-train.jsonl (the
search log) and queries-<split>.jsonl (default dev). Per set: the catalog is indexed, the queries
are evaluated with no events (cold), the train file is ingested as the search log and the queries
are evaluated again (warm). In the same run, on the same catalog and queries: BM25 alone (bm25s),
dense alone (same model, one text per artifact, FAISS flat), dense + BM25 with reciprocal rank
fusion (k=60), with --txtai txtai hybrid search (its own venv, bench/requirements-txtai.txt), and
after the warm run a vote of the nearest past requests (the log alone, see PastVote). `--split
asked` evaluates the log's own requests asked again: what a directory sees for its popular requests.
Prints one table per set (overall and by history group), issue 17's targets checked on it
(bench/targets.py), and a summary: one row per system, MRR@10 and coverage@10 (requests with
several answers) per set. Figures come from matchgraph.search.evaluate.

Embedding a catalog costs minutes on 2 cores (seal-tools: 4,076 APIs), so each set's indexed home
is kept under --cache-home (default ~/.cache/matchgraph-quality; its store holds the (model, text
hash) vectors of capabilities, baseline documents and past requests) and every run works on a
copy of it: a second run embeds only the queries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bm25s
import faiss
import numpy as np
import Stemmer
import targets  # bench/targets.py
from common import ASKED, CACHE, QueryVectors, cached_home, chosen_by_request, document, set_files, set_names

from matchgraph import Engine
from matchgraph.core.catalog import Artifact, load_catalog
from matchgraph.core.events import normalize_query
from matchgraph.retrieval.encoders import resolve_model
from matchgraph.search.evaluate import evaluate, read_labeled, report

TXTAI_VENV = Path(os.environ.get("TXTAI_VENV", "/tmp/txtai-venv"))
RRF_K = 60
DEPTH = 100  # candidates each retriever passes to RRF
VOTE_K = 10  # past requests that vote in the log-only peer
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "coverage@10")


class Baselines:
    """BM25, dense and their RRF over one document per artifact; each `rank_*` returns ids."""

    def __init__(self, artifacts: list[Artifact], embedder):
        self._index([a.id for a in artifacts], [document(a) for a in artifacts], embedder)

    def _index(self, ids: list, docs: list[str], embedder) -> None:
        """Both retrievers over `docs`; rankings name `ids` (bench/tools.py ranks tools with it)."""
        self.ids = ids
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


class PastVote:
    """The peer a directory with a search log would try first: the VOTE_K past requests nearest to
    a query (same model, FAISS flat) vote for the artifacts chosen for them, each with its cosine.
    Only artifacts somebody chose can be ranked, so it answers warm requests and misses cold ones."""

    def __init__(self, train: Path, embedder):
        self.embedder = embedder
        chosen: dict[str, set[str]] = {}
        for query, artifact_ids in chosen_by_request(train).items():
            chosen.setdefault(normalize_query(query), set()).update(artifact_ids)
        self.texts = list(chosen)
        self.chosen = [sorted(chosen[t]) for t in self.texts]
        vectors = embedder.encode(self.texts, progress=True)
        self.faiss = faiss.IndexFlatIP(vectors.shape[1])
        self.faiss.add(vectors)

    def rank(self, query: str) -> list[str]:
        """The artifacts chosen for the past requests nearest to `query`, by summed cosine."""
        sims, rows = self.faiss.search(self.embedder.encode_query(query)[None, :], VOTE_K)
        votes: dict[str, float] = {}
        for sim, row in zip(sims[0], rows[0]):
            for artifact_id in self.chosen[row] if row >= 0 else ():
                votes[artifact_id] = votes.get(artifact_id, 0.0) + float(sim)
        return sorted(votes, key=lambda a: -votes[a])


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


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(results: dict[str, dict]) -> str:
    """Markdown table: one row per (system, group)."""
    head = "| system | group | n | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | cov@10 (n) | p50 ms |"
    lines = [head, "|" + "---|" * 10]
    for name, res in results.items():
        groups = [("all", res["overall"])] + sorted(res.get("groups", {}).items(), reverse=True)
        for group, m in groups:
            cells = " | ".join(_cell(m[key]) for key in METRICS[:-1])
            lines.append(f"| {name} | {group} | {m['queries']} | {cells} | {_cell(m['coverage@10'])} "
                         f"({m['multi']}) | {m['latency_ms']['p50']:.1f} |")
    return "\n".join(lines)


def summary(by_set: dict[str, dict[str, dict]]) -> str:
    """One row per system: MRR@10 and coverage@10 on each set (overall), and their means."""
    sets = list(by_set)
    systems = list(dict.fromkeys(name for results in by_set.values() for name in results))
    head = "| system | " + " | ".join(f"{s} MRR@10 | {s} cov@10" for s in sets) + " | mean MRR@10 |"
    lines = [head, "|" + "---|" * (2 + 2 * len(sets))]
    for name in systems:
        cells, mrrs = [], []
        for s in sets:
            m = by_set[s].get(name, {}).get("overall")
            cells += [_cell(m and m["mrr@10"]), _cell(m and m["coverage@10"])]
            if m:
                mrrs.append(m["mrr@10"])
        mean = _cell(sum(mrrs) / len(mrrs)) if len(mrrs) == len(sets) else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)


def asked_again(train: Path, out: Path) -> Path:
    """`--split asked`: every request of the log asked again, with all the artifacts selected for
    it as its answers, written to `out` as labeled queries."""
    out.write_text("".join(json.dumps({"query": q, "artifact_ids": ids, "history": "warm"}) + "\n"
                           for q, ids in chosen_by_request(train).items()))
    return out


def run_set(files: dict[str, Path], home: Path, k: int, txtai: bool, encode_once: bool = False
            ) -> tuple[dict, dict]:
    """(results by system, warm config) for one set, evaluated in `home` (a working copy). With
    `encode_once` every query and part is encoded once up front and reused by every system."""
    queries = read_labeled(files["queries"])
    if encode_once:
        vectors = QueryVectors()
        vectors.install()
        vectors.add(home, [q.query for q in queries], raw=True)
    engine = Engine(home)  # indexed by cached_home
    artifacts = load_catalog([str(files["catalog"])])
    results: dict[str, dict] = {}
    base = Baselines(artifacts, engine.embedder())
    for name, rank in zip(targets.BASELINES, (base.rank_bm25, base.rank_dense, base.rank_rrf)):
        results[name] = evaluate(queries, rank, k)
    if txtai:
        figures = run_txtai(artifacts, queries, k)
        if figures:
            results[targets.TXTAI] = figures
    results[targets.COLD] = engine.evaluate(files["queries"], k)
    started = time.perf_counter()
    ingested = engine.ingest(files["train"])
    engine.refresh()
    print(f"ingested {ingested} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    results[targets.WARM] = engine.evaluate(files["queries"], k)
    log = PastVote(files["train"], engine.embedder())
    results["vote of the 10 nearest past requests"] = evaluate(queries, log.rank, k)
    config = results[targets.WARM].pop("config")
    results[targets.COLD].pop("config")
    engine.close()
    return results, config


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=None,
                        help="comma-separated set folders (names under ../shared/data or paths); "
                             "default: every folder of ../shared/data holding a catalog")
    parser.add_argument("--split", default="dev", help="queries-<split>.jsonl is evaluated (default dev); "
                        "`asked`: every request of the log asked again (its selects as the answers)")
    parser.add_argument("--catalog", help="one set by its files instead of --sets (with --queries, --train)")
    parser.add_argument("--queries")
    parser.add_argument("--train", help="search log ingested for the warm run")
    parser.add_argument("--cache-home", default=str(CACHE),
                        help="where each set's indexed home (and its vector cache) is kept")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--txtai", action="store_true", help="also run txtai hybrid (embeds every run)")
    parser.add_argument("--no-txtai", action="store_true", help=argparse.SUPPRESS)  # the old default
    parser.add_argument("--json", help="also write all figures as JSON to this file")
    parser.add_argument("--encode-once", action="store_true",
                        help="encode each query and part once, before the runs, for every system (a run takes "
                             "minutes, not most of an hour, on 2 cores); p50 ms then excludes query encoding")
    args = parser.parse_args(argv)

    if args.catalog:
        if not (args.queries and args.train):
            parser.error("--catalog needs --queries and --train")
        files = {"catalog": Path(args.catalog), "queries": Path(args.queries), "train": Path(args.train)}
        sets = [(f"{Path(args.catalog).resolve().parent.name}-{Path(args.queries).stem}", files)]
    else:
        sets = [set_files(name, args.split) for name in set_names(args.sets)]
    cache = Path(args.cache_home)
    by_set, configs, checks = {}, {}, {}
    for label, files in sets:
        print(f"== {label}", file=sys.stderr)
        home = cached_home(cache, label, files)
        if args.split == ASKED:
            files = {**files, "queries": asked_again(files["train"], cache / f"{label}-asked.jsonl")}
        with tempfile.TemporaryDirectory(prefix="mg-quality-") as tmp:
            work = Path(tmp) / "home"
            shutil.copytree(home, work)
            by_set[label], configs[label] = run_set(files, work, args.k, args.txtai and not args.no_txtai,
                                                    args.encode_once)
        note = " (p50 ms excludes query encoding: --encode-once)" if args.encode_once else ""
        print(f"### {label} ({files['queries']}){note}\n\n{table(by_set[label])}\n")
        if args.split != ASKED:  # the targets are about new requests
            checks[label] = targets.check(by_set[label])
            print(f"Issue 17's targets on {label}:\n\n{targets.table(checks[label])}\n")
    print("### Summary (overall)\n\n" + summary(by_set))
    if args.json:
        Path(args.json).write_text(json.dumps({"config": next(iter(configs.values()), {}),
                                               "sets": by_set, "targets": checks}, indent=2))


if __name__ == "__main__":
    main()
