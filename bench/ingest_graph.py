"""Benchmark: ingest a big event log and build the match graph from it, on SQLite and PostgreSQL.

    python bench/ingest_graph.py                      # 1M events, 20,000 artifacts, 10,000 query texts
    python bench/ingest_graph.py --events 100000 --queries 2000 --stores sqlite   # quick look

The log is synthetic and deterministic (seeded): query texts are drawn Zipf(s) over at most
`--queries` distinct texts, artifacts Zipf(s) over `--artifacts` ids (independently: the worst case
for the number of distinct query->artifact edges), 20% of events are selects, half name a
capability, timestamps spread over 90 days. Events stream from a generator into
`Store.add_events` (batched INSERT ... ON CONFLICT DO NOTHING on SQLite, COPY + INSERT ... SELECT
on PostgreSQL); nothing holds the log in a Python list.

Phases, each timed, with the peak resident memory of the process seen during it:
  ingest            stream all events into the store
  resend            send the first 100,000 again (all duplicates: 0 new)
  embed             embed the distinct normalized query texts once (cache misses; the slow part,
                    reported on its own line) -- done on the first store, the vectors then copied
                    into the other stores' caches, so every graph build below is on a warm cache
  edge_counts       the GROUP BY (query, artifact) streamed out of the database, alone
  graph build       matchgraph.graph.build.build_match_graph (aggregates, merges near-duplicate queries,
                    builds the sparse weights and edge counts search needs); re-embeds nothing
  networkx graph    the NetworkX graph, built from those on first use (export, explorer, stats)
  pagerank          bipartite_pagerank over the result (the other half of a refresh)
  times_matched / events_signature   the two queries a server runs on refresh
  incremental       --new events more (same query pool, other draws) are stored, then the graph is
                    refreshed from the previous build (reads only events stored since it); the
                    result is checked against a full build over all events, which is timed too;
                    and a refresh with nothing new

The catalog is 20,000 synthetic artifacts held in memory (the FAISS catalog index is not part of
this benchmark: the graph build needs only ids, names and capability ids).
PostgreSQL runs in a fresh schema of --pg-url, dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from matchgraph.core.catalog import Artifact
from matchgraph.core.config import DEFAULTS
from matchgraph.core.events import Event, EventIn, finish, normalize_query
from matchgraph.graph.build import build_match_graph
from matchgraph.graph.pagerank import bipartite_pagerank
from matchgraph.retrieval.embeddings import Embedder
from matchgraph.store import PostgreSQLStore, create_store

VERBS = ["read", "transcribe", "translate", "summarize", "classify", "detect", "generate", "caption",
         "segment", "extract", "answer questions about", "search", "compare", "clean up", "tag",
         "recognize", "describe", "convert", "label", "upscale", "denoise", "cluster", "rank",
         "explain", "index", "find duplicates in", "moderate", "redact", "parse", "draft",
         "correct", "score", "forecast", "embed", "anonymize", "verify", "sort", "chat about",
         "animate", "narrate"]
OBJECTS = ["handwritten letters", "scanned invoices", "podcast audio", "legal contracts",
           "product photos", "medical images", "customer emails", "source code", "bird songs",
           "street signs", "tweets", "news articles", "receipts", "satellite images", "x-rays",
           "video lectures", "meeting recordings", "chess games", "recipes", "song lyrics",
           "research papers", "job resumes", "support tickets", "financial reports", "subtitles",
           "comic strips", "sensor logs", "web pages", "chat transcripts", "maps",
           "3d models", "floor plans", "voice notes", "security camera footage", "menus",
           "patents", "spreadsheets", "diagrams", "poems", "tax forms", "road scenes",
           "handwritten math", "sign language videos", "protein sequences", "weather data",
           "movie reviews", "old photographs", "bank statements", "phone calls", "slides"]
SUFFIXES = ["", " in french", " in japanese", " for a small team", " offline", " quickly",
            " with high accuracy", " on a laptop", " in bulk", " for free", " in real time",
            " from my phone", " without a gpu", " for accessibility", " at scale"]


def query_texts(n: int, seed: int) -> list[str]:
    """n distinct query texts ("transcribe podcast audio offline"), shuffled deterministically."""
    combos = [f"{v} {o}{s}" for v in VERBS for o in OBJECTS for s in SUFFIXES]
    if n > len(combos):
        raise SystemExit(f"--queries at most {len(combos)}")
    rng = np.random.default_rng(seed)
    return [combos[i] for i in rng.permutation(len(combos))[:n]]


def zipf_sample(rng: np.random.Generator, n: int, size: int, s: float) -> np.ndarray:
    """`size` draws of 0..n-1 with P(rank r) proportional to 1/(r+1)^s, ranks shuffled over ids."""
    p = 1.0 / np.arange(1, n + 1) ** s
    p /= p.sum()
    ranks = rng.choice(n, size=size, p=p)
    return rng.permutation(n)[ranks]


@dataclass
class Log:
    """The synthetic log as compact numpy columns (a few bytes per event), streamed as Events."""

    texts: list[str]
    norms: list[str]
    artifact_ids: list[str]
    q: np.ndarray
    a: np.ndarray
    select: np.ndarray
    cap: np.ndarray  # -1 = no capability named, else capability index
    minute: np.ndarray
    t0: datetime = field(default=datetime(2025, 1, 1, tzinfo=timezone.utc))
    id_offset: int = 0  # event ids are bench-{i + id_offset}

    @classmethod
    def make(cls, events: int, artifacts: int, queries: int, s: float, seed: int) -> "Log":
        rng = np.random.default_rng(seed)
        texts = query_texts(queries, seed)
        return cls(texts=texts, norms=[normalize_query(t) for t in texts],
                   artifact_ids=[f"org{i % 97}/model-{i:05d}" for i in range(artifacts)],
                   q=zipf_sample(rng, queries, events, s).astype(np.int32),
                   a=zipf_sample(rng, artifacts, events, s).astype(np.int32),
                   select=rng.random(events) < 0.2,
                   cap=np.where(rng.random(events) < 0.5, rng.integers(0, 2, events), -1).astype(np.int8),
                   minute=rng.integers(0, 90 * 24 * 60, events).astype(np.int32))

    def __len__(self) -> int:
        return len(self.q)

    def events(self, start: int = 0, stop: int | None = None):
        stop = len(self) if stop is None else stop
        for i in range(start, stop):
            qi, ai, ci = int(self.q[i]), int(self.a[i]), int(self.cap[i])
            yield Event(event_id=f"bench-{i + self.id_offset:08d}", query=self.texts[qi], query_norm=self.norms[qi],
                        artifact_id=self.artifact_ids[ai], capability_id=f"cap{ci}" if ci >= 0 else None,
                        kind="select" if self.select[i] else "match",
                        ts=self.t0 + timedelta(minutes=int(self.minute[i])))

    def raw(self, i: int) -> dict:
        """Event i as a log line / POST body item (for the validation figure)."""
        return {"query": self.texts[int(self.q[i])], "artifact_id": self.artifact_ids[int(self.a[i])],
                "kind": "select" if self.select[i] else "match", "event_id": f"bench-{i + self.id_offset:08d}",
                "ts": (self.t0 + timedelta(minutes=int(self.minute[i]))).isoformat()}


class FakeIndex:
    """What build_match_graph reads from a LoadedIndex: artifacts (with capabilities) and positions."""

    version = 1

    def __init__(self, artifact_ids: list[str], dim: int = 384):
        self.vectors = np.zeros((0, dim), np.float32)
        self.artifacts = [Artifact(id=aid, name=aid.split("/")[1], task="text-generation",
                                   capabilities=[{"id": "cap0", "title": f"first skill of {aid}"},
                                                 {"id": "cap1", "title": f"second skill of {aid}"}])
                          for aid in artifact_ids]
        self.position = {a.id: i for i, a in enumerate(self.artifacts)}
        self.rows = [(a.id, c.id) for a in self.artifacts for c in a.capabilities]


class PeakRSS:
    """Samples this process's resident memory every 20 ms; `peak` in MB since the last reset."""

    def __init__(self):
        self.peak = 0.0
        self._page = os.sysconf("SC_PAGE_SIZE")
        threading.Thread(target=self._run, daemon=True).start()

    def now(self) -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page / 2**20

    def reset(self) -> None:
        self.peak = self.now()

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)


RSS = PeakRSS()
RESULTS: list[dict] = []


def phase(store: str, name: str, seconds: float, **figures) -> None:
    row = {"store": store, "phase": name, "seconds": round(seconds, 2), "peak_rss_mb": round(RSS.peak), **figures}
    RESULTS.append(row)
    extra = "  ".join(f"{k}={v}" for k, v in figures.items())
    print(f"{store:<11} {name:<17} {seconds:8.2f} s  peak RSS {RSS.peak:6.0f} MB  {extra}", flush=True)


def timed(fn):
    RSS.reset()
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def pg_schema_url(base: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--artifacts", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=10_000, help="distinct query texts (at most)")
    ap.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent for queries and artifacts")
    ap.add_argument("--batch", type=int, default=20_000, help="rows per insert batch / COPY")
    ap.add_argument("--stores", default="sqlite,postgresql",
                    help="comma-separated: sqlite, postgresql, pg-insert (PostgreSQL without COPY)")
    ap.add_argument("--pg-url", default=os.environ.get("MATCHGRAPH_TEST_PG",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--workdir", default=None, help="where the SQLite file goes (default: a temp dir)")
    ap.add_argument("--model", default="default")
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file and PostgreSQL schema")
    ap.add_argument("--new", type=int, default=1000, help="events stored before the incremental refresh")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()

    import signal
    import tempfile

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the schema and files on kill
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mg-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# {' '.join(sys.argv)}", flush=True)
    log, seconds = timed(lambda: Log.make(args.events, args.artifacts, args.queries, args.zipf, seed=7))
    used_q, used_a = len(np.unique(log.q)), len(np.unique(log.a))
    print(f"generated {len(log):,} events in {seconds:.1f} s: {used_q:,} distinct query texts used "
          f"(of {args.queries:,}), {used_a:,} of {args.artifacts:,} artifacts, "
          f"{int(log.select.sum()):,} selects", flush=True)

    # validation cost of the real ingest path (EventIn -> finish), on a sample, one core
    sample = min(50_000, len(log))
    _, seconds = timed(lambda: [finish(EventIn.model_validate(log.raw(i))) for i in range(sample)])
    print(f"validation (EventIn + finish): {sample / seconds:,.0f} events/s on one core", flush=True)

    later = Log.make(args.new, args.artifacts, args.queries, args.zipf, seed=8)
    later.texts, later.norms, later.id_offset = log.texts, log.norms, len(log)
    later.t0 = log.t0 + timedelta(days=90)
    index = FakeIndex(log.artifact_ids)
    config = json.loads(json.dumps(DEFAULTS))
    stores = []
    for kind in args.stores.split(","):
        if kind == "sqlite":
            path = workdir / "bench.db"
            path.unlink(missing_ok=True)
            stores.append((kind, create_store(f"sqlite:///{path}"), None))
        elif kind in ("postgresql", "pg-insert"):  # pg-insert: PostgreSQL without the COPY path
            url, schema = pg_schema_url(args.pg_url)
            stores.append((kind, create_store(url), schema))
        else:
            raise SystemExit(f"unknown store {kind}")

    cache_source = None
    try:
        for kind, store, _ in stores:
            if isinstance(store, PostgreSQLStore):  # pg-insert: never COPY
                store.copy_min_rows = 10**12 if kind == "pg-insert" else PostgreSQLStore.copy_min_rows
            new, seconds = timed(lambda: store.add_events(log.events(), batch_size=args.batch))
            phase(kind, "ingest", seconds, events=len(log), new=new, events_per_s=round(len(log) / seconds))
            n = min(100_000, len(log))
            new, seconds = timed(lambda: store.add_events(log.events(0, n), batch_size=args.batch))
            phase(kind, "resend", seconds, events=n, new=new, events_per_s=round(n / seconds))

            embedder = Embedder(args.model, store, DEFAULTS["batch_size"])
            norms = sorted(store.query_texts())  # the normalized texts the graph build embeds
            if cache_source is None:
                _, seconds = timed(lambda: embedder.encode(norms))
                phase(kind, "embed", seconds, texts=embedder.last_embedded,
                      texts_per_s=round(embedder.last_embedded / max(seconds, 1e-9), 1))
                cache_source = store
            else:  # the same texts: copy the cached vectors instead of embedding them again
                from matchgraph.retrieval.embeddings import text_hash

                hashes = [text_hash(t) for t in norms]
                _, seconds = timed(lambda: store.put_vectors(
                    embedder.model_name, cache_source.get_vectors(embedder.model_name, hashes)))
                phase(kind, "copy vectors", seconds, texts=len(hashes))

            rows, seconds = timed(lambda: sum(1 for _ in store.edge_counts()))
            phase(kind, "edge_counts", seconds, rows=rows)
            mg, seconds = timed(lambda: build_match_graph(store, index, embedder, config))
            phase(kind, "graph build (what search needs)", seconds, queries=len(mg.queries),
                  edges=mg.weights.nnz, embedded=embedder.last_embedded)
            nx_graph, seconds = timed(lambda m=mg: m.network)
            phase(kind, "networkx graph (built on first export/explorer use)", seconds,
                  nodes=nx_graph.number_of_nodes(), edges=nx_graph.number_of_edges())
            _, seconds = timed(lambda m=mg: bipartite_pagerank(m.weights, DEFAULTS["graph"]["pagerank_alpha"]))
            phase(kind, "pagerank", seconds)
            times, seconds = timed(store.times_matched)
            assert sum(times.values()) == len(log)
            phase(kind, "times_matched", seconds, artifacts=len(times))
            _, seconds = timed(store.events_signature)
            phase(kind, "events_signature", seconds)

            new, seconds = timed(lambda: store.add_events(later.events()))
            phase(kind, f"store {args.new:,} new events", seconds, new=new)
            inc, seconds = timed(lambda m=mg: build_match_graph(store, index, embedder, config, previous=m))
            phase(kind, f"incremental refresh after {args.new:,} new events", seconds,
                  queries=len(inc.queries), edges=inc.weights.nnz, embedded=embedder.last_embedded)
            _, seconds = timed(lambda m=inc: bipartite_pagerank(m.weights, DEFAULTS["graph"]["pagerank_alpha"]))
            phase(kind, "pagerank after it", seconds)
            same, seconds = timed(lambda m=inc: build_match_graph(store, index, embedder, config, previous=m))
            phase(kind, "refresh with nothing new", seconds)
            full, seconds = timed(lambda: build_match_graph(store, index, embedder, config))
            phase(kind, "full rebuild (for comparison)", seconds)
            assert full.edges == inc.edges and full.aliases == inc.aliases
            assert full.capability_edges == inc.capability_edges and full.times_matched == inc.times_matched
            assert full.selects == inc.selects and (full.weights != inc.weights).nnz == 0
            print(f"{kind:<11} incremental == full build: yes", flush=True)
            if kind != "sqlite":  # the delta read with table statistics (autovacuum's ANALYZE)
                with store.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE events")
                more = Log.make(args.new, args.artifacts, args.queries, args.zipf, seed=9)
                more.texts, more.norms, more.id_offset = log.texts, log.norms, len(log) + len(later)
                more.t0 = later.t0 + timedelta(days=1)
                store.add_events(more.events())
                inc2, seconds = timed(lambda m=inc: build_match_graph(store, index, embedder, config, previous=m))
                phase(kind, f"after ANALYZE: incremental refresh after {args.new:,} new events", seconds)
                _, seconds = timed(lambda m=inc2: build_match_graph(store, index, embedder, config, previous=m))
                phase(kind, "after ANALYZE: refresh with nothing new", seconds)
                del inc2
            del mg, nx_graph, inc, same, full
    finally:
        for kind, store, schema in stores:
            store.close()
            if schema and not args.keep:
                drop_schema(args.pg_url, schema)
        if not args.keep and not args.workdir:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"argv": sys.argv, "results": RESULTS}, indent=2))


if __name__ == "__main__":
    main()
