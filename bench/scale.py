"""Benchmark: matchgraph at directory scale (issue 13), one table for 10,000 / 100,000 / 1,000,000
artifacts with 3 capabilities each.

    python bench/scale.py                          # all three sizes: the 1M one may take an hour
    python bench/scale.py --sizes 10000,100000     # what BENCHMARKS.md records on 2 cores

What it does per size, each measured phase in a fresh subprocess (so "peak RSS" is that process):
  setup     a seeded synthetic catalog (tasks, modalities, domains, languages, model families with
            versions and sizes, providers, signals) and search log; capability and past-query
            vectors written straight into the store's embedding cache through Store.put_vectors.
            The vectors are pseudo-embeddings: the real model's vectors of a small vocabulary
            (a few hundred words, encoded once), averaged over the words of each text, plus
            seeded noise -- so the ANN, BM25 and the names all have real structure to work on,
            and no catalog text is run through the model (its cost: bench/quality.py, item 5).
  index     `Engine.index` from the full cache (validate, hash, look up, FAISS, publish).
  serve     first load of the index version (no events yet); searches in-process: without query
            encoding (vectors precomputed), with it, and with a kind/pricing/task filter; the
            floor: query encoding + a FAISS flat search over the same capability vectors.
  log       N/2 events stored (not timed: bench/ingest_graph.py times ingest).
  graph     first load with the log; the full match-graph build alone; searches again, compare
            and artifact pages, a 1-hop ego-graph export; a server's refresh after 1,000 new
            events (incremental graph, PageRank, scores).
  http      a real uvicorn on loopback serving the home: /api/search at concurrency 1 and 8
            (a bounded number of requests each); the server's own peak RSS (VmHWM). Its first
            load continues from the graph the graph phase stored and folds in the 1,000 events
            after it (and fits again: the log changed); it stores that graph with its fit.
  reload    a new process's first load with that stored graph and fit (the log unchanged).

Latencies are milliseconds (p50/p95/p99); the table prints seconds for loads and builds and
GB for memory. Working files go to --work (default /tmp/matchgraph-scale), one home per size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
from common import ROOT

SEED = 13
CAPS_PER_ARTIFACT = 3
SEARCHES = 100  # in-process searches per measurement (p99: the second slowest)
ENCODED = 50  # of them, with the query encoded (10-15 ms each on a quiet core)
HTTP_REQUESTS = 100  # requests per concurrency level
SHARD = 100_000  # artifacts per catalog file
FLOOR_MAX = 3_000_000  # capabilities up to which the floor's flat copy is made (4.6 GB at 3M)
TARGETS = {  # issue 13: (100,000 artifacts, 1,000,000 artifacts)
    "search p50, no encoding (ms)": (5, 15), "search p99, no encoding (ms)": (25, 60),
    "first load (s)": (15, 90), "index from cache (s)": (30, 300),
    "peak RSS, server (GB)": (2, 8), "refresh after 1,000 events (s)": (0.5, 1),
}

# -- the synthetic directory ------------------------------------------------------------------
TASKS = [  # (task, input, output, what it does, words users say)
    ("automatic-speech-recognition", "audio", "text", "transcribe speech", "transcription dictation subtitles"),
    ("text-to-speech", "text", "audio", "read text aloud", "voice narration speech synthesis"),
    ("text-to-image", "text", "image", "generate images from prompts", "illustration artwork picture"),
    ("image-to-text", "image", "text", "read text in images", "ocr scanned handwriting receipts"),
    ("image-classification", "image", "label", "classify photos", "categories labels tagging"),
    ("object-detection", "image", "boxes", "detect objects", "bounding boxes counting cameras"),
    ("image-segmentation", "image", "mask", "segment regions", "masks background removal"),
    ("translation", "text", "text", "translate documents", "localization bilingual"),
    ("summarization", "text", "text", "summarize long documents", "abstracts digest meeting notes"),
    ("text-classification", "text", "label", "classify text", "sentiment spam topics moderation"),
    ("token-classification", "text", "entities", "extract named entities", "ner names places redaction"),
    ("question-answering", "text", "text", "answer questions over documents", "retrieval faq support"),
    ("text-generation", "text", "text", "chat and write text", "assistant drafting reasoning"),
    ("feature-extraction", "text", "embedding", "embed text for semantic search", "vectors similarity clustering"),
    ("audio-classification", "audio", "label", "classify sounds", "keyword spotting emotion birds"),
    ("video-classification", "video", "label", "recognize actions in video", "clips sports surveillance"),
    ("depth-estimation", "image", "depth", "estimate depth", "3d robotics stereo"),
    ("table-question-answering", "table", "text", "answer questions about tables", "spreadsheets sql"),
    ("code-generation", "text", "code", "write and complete code", "programming autocomplete refactoring"),
    ("web-search", "text", "json", "search the web", "browsing news lookup"),
    ("document-parsing", "pdf", "json", "parse pdf documents", "invoices forms layout"),
    ("forecasting", "table", "numbers", "forecast time series", "demand sales sensors"),
]
DOMAINS = ["medical", "legal", "finance", "biology", "chemistry", "retail", "news", "social media",
           "customer support", "education", "e-commerce", "insurance", "patents", "scientific papers",
           "software", "manufacturing", "agriculture", "satellite", "radiology", "music", "podcasts",
           "call center", "gaming", "real estate", "travel", "energy", "automotive", "security",
           "government", "sports", "fashion", "food", "pharmacy", "logistics", "marketing", "hr"]
LANGUAGES = ["english", "spanish", "german", "french", "chinese", "japanese", "arabic", "hindi",
             "portuguese", "russian", "korean", "italian", "dutch", "turkish", "multilingual"]
FAMILIES = {  # family -> tasks it is mostly used for (indices into TASKS)
    "llama": [12, 8, 11, 18], "mistral": [12, 8, 11], "qwen": [12, 18, 7], "gemma": [12, 8],
    "phi": [12, 18], "bert": [9, 10, 11], "roberta": [9, 10], "deberta": [9, 11], "t5": [8, 7, 11],
    "bart": [8, 9], "whisper": [0], "wav2vec2": [0, 14], "clip": [4, 13], "vit": [4], "dinov2": [4, 16],
    "sam": [6], "yolo": [5], "detr": [5], "stable-diffusion": [2], "flux": [2], "falcon": [12],
    "electra": [9, 10], "distilbert": [9, 10, 11], "mpnet": [13], "minilm": [13], "e5": [13],
    "bge": [13], "gte": [13], "segformer": [6], "convnext": [4], "resnet": [4], "swin": [4, 5],
    "layoutlm": [20, 3], "donut": [20, 3], "trocr": [3], "bark": [1], "speecht5": [1, 0],
    "musicgen": [1], "starcoder": [18], "codegen": [18], "deepseek": [12, 18], "mixtral": [12],
    "xlm-roberta": [9, 10], "marian": [7], "nllb": [7], "pegasus": [8], "tapas": [17],
    "videomae": [15], "dpt": [16], "timesfm": [21], "chronos": [21], "searchapi": [19],
}
VERSIONS = ["1", "2", "3", "3.1", "3.2", "v1", "v2", "v1.5", "2.5", "4", "0.3", "xl", "v3"]
SIZES = ["tiny", "small", "base", "large", "xl", "1b", "3b", "7b", "8b", "13b", "70b", "mini"]
PROVIDERS = [f"{a}{b}" for a in ("north", "blue", "open", "deep", "bright", "quantum", "neural", "stellar",
                                  "river", "cedar", "atlas", "pixel", "vector", "lumen", "sigma", "delta")
             for b in ("labs", "ai", "works", "research", "forge", "systems", "hub", "ml")]
KINDS = (["model"] * 70 + ["tool"] * 12 + ["api"] * 8 + ["dataset"] * 6 + ["app"] * 4)
PRICINGS = (["free"] * 60 + ["freemium"] * 15 + ["paid"] * 15 + ["unknown"] * 10)
INTEGRATIONS = ["transformers", "onnx", "pytorch", "tensorflow", "langchain", "llamaindex", "vllm",
                "ollama", "gguf", "coreml", "openvino", "tensorrt"]
LICENSES = ["apache-2.0", "mit", "cc-by-4.0", "openrail", "llama3", "proprietary", "gpl-3.0", ""]
QUALIFIERS = ["fast", "accurate", "lightweight", "robust", "quantized", "distilled", "instruction tuned",
              "long context", "low latency", "on device", "batch", "streaming", "private", "open"]


def _pick(rng: np.random.Generator, items: list, size: int | None = None):
    return [items[i] for i in rng.integers(0, len(items), size)] if size else items[int(rng.integers(len(items)))]


def make_catalog(n: int, seed: int = SEED) -> list[dict]:
    """n artifact records in the catalog schema, deterministic for (n, seed)."""
    return list(iter_catalog(n, seed))


def iter_catalog(n: int, seed: int = SEED) -> Iterator[dict]:
    """make_catalog's records one at a time (the same ones): setup writes 2,000,000 of them
    without holding them."""
    rng = np.random.default_rng(seed)
    families = list(FAMILIES)
    seen: set[str] = set()
    for i in range(n):
        family = _pick(rng, families)
        task_i = _pick(rng, FAMILIES[family]) if rng.random() < 0.85 else int(rng.integers(len(TASKS)))
        task, source, target, does, words = TASKS[task_i]
        domain, language = _pick(rng, DOMAINS), _pick(rng, LANGUAGES)
        version, size, qualifier = _pick(rng, VERSIONS), _pick(rng, SIZES), _pick(rng, QUALIFIERS)
        name = f"{family}-{version}-{size}-{domain.replace(' ', '-')}-{language}"
        provider = _pick(rng, PROVIDERS)
        artifact_id = f"{provider}/{name}"
        if artifact_id in seen:  # the same name under one provider: a fine-tune number tells them apart
            artifact_id = f"{provider}/{name}-ft{i}"
            name = f"{name}-ft{i}"
        seen.add(artifact_id)
        word_list = words.split()
        caps = []
        for c in range(CAPS_PER_ARTIFACT):
            focus = word_list[c % len(word_list)]
            caps.append({"id": f"cap-{c}",
                         "title": f"{does.capitalize()} for {domain} {focus}" if c == 0 else
                         f"{focus.capitalize()} in {language} ({qualifier})" if c == 1 else
                         f"{_pick(rng, QUALIFIERS).capitalize()} {focus} from {source}",
                         "description": f"Takes {source} and returns {target}: {does} in {language} "
                                        f"{domain} material, {qualifier}, built on {family} {version} "
                                        f"{size}. Good at {_pick(rng, word_list)} and "
                                        f"{_pick(rng, DOMAINS)} {_pick(rng, word_list)}.",
                         "inputs": [source], "outputs": [target],
                         "best_for": f"{domain} teams working in {language}"})
        signals = {"downloads": int(rng.lognormal(6, 3)), "likes": int(rng.lognormal(2, 2)),
                   "integrations": sorted(set(_pick(rng, INTEGRATIONS, int(rng.integers(0, 5))) or [])),
                   "released_at": (datetime(2020, 1, 1) + timedelta(days=int(rng.integers(0, 2000)))).date().isoformat()}
        if rng.random() < 0.3:
            signals["benchmarks"] = {f"{task}-score": round(float(rng.uniform(40, 99)), 1)}
        if rng.random() < 0.1:
            signals["reviews"] = {"count": int(rng.integers(1, 500)), "mean": round(float(rng.uniform(2, 5)), 1)}
        yield {"id": artifact_id, "name": name, "kind": _pick(rng, KINDS), "pricing": _pick(rng, PRICINGS),
               "provider": provider, "license": _pick(rng, LICENSES), "task": task,
               "tags": [domain, language, family, source, target],
               "description": f"{family.capitalize()} {version} {size}, {qualifier}, for {does} "
                              f"on {domain} {source} in {language}.",
               "signals": signals, "capabilities": caps}


class _Columns:
    """What make_queries and bench.json read of each artifact, kept as columns while the catalog
    streams past: catalog[pos]["tags"|"task"|"name"] as make_catalog's list would answer."""

    def __init__(self):
        self.ids: list[str] = []
        self.names: list[str] = []
        self.tasks: list[str] = []
        self.kinds: list[str] = []
        self.pricings: list[str] = []
        self.domains: list[str] = []
        self.languages: list[str] = []

    def add(self, record: dict) -> None:
        self.ids.append(record["id"])
        self.names.append(record["name"])
        self.tasks.append(record["task"])
        self.kinds.append(record["kind"])
        self.pricings.append(record["pricing"])
        self.domains.append(record["tags"][0])
        self.languages.append(record["tags"][1])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, pos: int) -> dict:
        return {"name": self.names[pos], "task": self.tasks[pos], "tags": [self.domains[pos], self.languages[pos]]}


def make_queries(catalog: list[dict], n: int, seed: int) -> list[tuple[str, int]]:
    """n (user request, source artifact position): asked in words, by name, or with a typo."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pos = int(rng.integers(len(catalog)))
        a = catalog[pos]
        domain, language = a["tags"][0], a["tags"][1]
        does = next(t[3] for t in TASKS if t[0] == a["task"])
        words = next(t[4] for t in TASKS if t[0] == a["task"]).split()
        style = rng.random()
        if style < 0.6:
            text = f"{does} {domain} {_pick(rng, words)} in {language}"
        elif style < 0.8:
            text = f"{_pick(rng, QUALIFIERS)} model to {does} for {domain}"
        elif style < 0.93:
            text = a["name"].replace("-", " ")
        else:
            text = a["name"]
            cut = int(rng.integers(1, len(text) - 1))
            text = text[:cut] + text[cut + 1:]  # a typo
        out.append((text, pos))
    return out


# -- pseudo-embeddings --------------------------------------------------------------------------
class PseudoEncoder:
    """Vectors for texts from the real model's vectors of a fixed vocabulary: each text is the
    normalized mean of its known words plus seeded noise (0.35 of the norm), so texts sharing
    words are near each other as with the model, at numpy speed."""

    def __init__(self, work: Path, model_name: str):
        vocab = sorted({w for text in _vocabulary_texts() for w in _words(text)})
        path = work / "word-vectors.npy"
        if path.exists() and len(np.load(path)) == len(vocab):
            vectors = np.load(path)
        else:
            from matchgraph.retrieval.embeddings import encode_with
            from matchgraph.retrieval.encoders import load_model

            vectors = encode_with(load_model(model_name), vocab, 64)
            np.save(path, vectors)
        self.vocab = {w: i for i, w in enumerate(vocab)}
        self.vectors = vectors.astype(np.float32)

    def encode(self, texts: list[str], seed: int) -> np.ndarray:
        from scipy import sparse

        rows, cols = [], []
        for r, text in enumerate(texts):
            for w in _words(text):
                j = self.vocab.get(w)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
        bag = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                                shape=(len(texts), len(self.vocab)))
        mean = np.asarray(bag @ self.vectors, dtype=np.float32)
        mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-6)
        noise = np.random.default_rng(seed).standard_normal(mean.shape).astype(np.float32)
        noise *= 0.35 / np.sqrt(mean.shape[1])
        out = mean + noise
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _words(text: str) -> list[str]:
    from matchgraph.core.events import normalize_query

    return normalize_query(text).split()


def _vocabulary_texts() -> list[str]:
    return ([t[0].replace("-", " ") + " " + " ".join(t[1:]) for t in TASKS] + DOMAINS + LANGUAGES
            + list(FAMILIES) + VERSIONS + SIZES + QUALIFIERS + INTEGRATIONS
            + ["takes and returns in material built on good at for teams working from model to"])


# -- phases (each runs in its own process) -------------------------------------------------------
def phase_setup(work: Path, n: int) -> dict:
    """Catalog, queries, search log; vectors into the embedding cache. Not a measured figure."""
    from matchgraph.core.catalog import Artifact
    from matchgraph.core.events import normalize_query
    from matchgraph.engine.engine import Engine
    from matchgraph.retrieval.embeddings import text_hash

    start = time.perf_counter()
    home = work / f"home-{n}"
    shutil.rmtree(home, ignore_errors=True)
    engine = Engine(home)
    model = engine.config["model"]
    encoder = PseudoEncoder(work, model)
    catalog_path = home / "catalog"  # a folder of shards, as large directories ship them: one
    catalog_path.mkdir()  # file of 1M artifacts (1.5 GB) would be over limits.file_bytes
    catalog = _Columns()
    texts: list[str] = []  # one chunk's capability texts at a time
    chunk_number = capabilities = 0

    def flush() -> None:  # chunks of 50,000 texts seeded by their number, as before streaming
        nonlocal texts, chunk_number, capabilities
        part, texts = texts[:50_000], texts[50_000:]
        vectors = encoder.encode(part, SEED + chunk_number)
        engine.store.put_vectors(model, {text_hash(t): v for t, v in zip(part, vectors)})
        capabilities += len(part)
        chunk_number += 1

    shard = None
    for i, record in enumerate(iter_catalog(n)):
        if i % SHARD == 0:
            shard = shard.close() if shard else None
            shard = (catalog_path / f"part-{i // SHARD:04d}.jsonl").open("w")
        shard.write(json.dumps(record) + "\n")
        catalog.add(record)
        texts.extend(c.text() for c in Artifact.model_validate(record).capabilities)
        if len(texts) >= 50_000:
            flush()
    shard.close()
    if texts:
        flush()
    searches = make_queries(catalog, SEARCHES, SEED + 1)
    pool = make_queries(catalog, max(200, n // 10), SEED + 2)  # past requests of the log
    fresh = make_queries(catalog, 100, SEED + 3)  # new requests among the 1,000 later events
    norms = sorted({normalize_query(t) for t, _ in pool + fresh})
    vectors = encoder.encode(norms, SEED + 99)
    engine.store.put_vectors(model, {text_hash(t): v for t, v in zip(norms, vectors)})
    (home / "bench.json").write_text(json.dumps({
        "catalog": str(catalog_path), "searches": searches, "pool": pool, "fresh": fresh,
        "ids": catalog.ids, "tasks": catalog.tasks, "kinds": catalog.kinds, "pricings": catalog.pricings}))
    engine.close()
    return {"setup_s": time.perf_counter() - start, "capabilities": capabilities}


def phase_index(work: Path, n: int) -> dict:
    from matchgraph.engine.engine import Engine

    home = work / f"home-{n}"
    bench = json.loads((home / "bench.json").read_text())
    engine = Engine(home)
    start = time.perf_counter()
    result = engine.index([bench["catalog"]])
    took = time.perf_counter() - start
    if result["embedded"]:
        raise SystemExit(f"index embedded {result['embedded']} texts: the cache was not full")
    return {"index_s": took, "index_rss_gb": _peak_rss_gb(), "capabilities": result["capabilities"]}


def phase_serve(work: Path, n: int, with_log: bool) -> dict:
    """First load, searches, pages, export and (with the log) graph build and refresh."""
    from matchgraph.engine.engine import Engine
    from matchgraph.graph.build import build_match_graph

    home = work / f"home-{n}"
    bench = json.loads((home / "bench.json").read_text())
    engine = Engine(home, refresh_seconds=3600)  # a server: the refresh below is triggered by hand
    if not with_log and engine.store.event_count():
        raise SystemExit(f"{home} holds events from an earlier log phase: run setup again")
    start = time.perf_counter()
    state = engine.state
    out: dict = {"load_s": time.perf_counter() - start, "load_rss_gb": _peak_rss_gb()}
    model = state.index.manifest["model"]
    real = engine.embedder(model)
    searches = [t for t, _ in bench["searches"]]
    precomputed = dict(zip(searches, real._encode(searches)))  # one batch: the same vectors to ~1e-6
    rng = np.random.default_rng(SEED + 5)
    filters = []
    for t, pos in bench["searches"]:
        other = int(rng.integers(n))  # filters from an artifact: some searches keep few, some many
        filters.append((bench["kinds"][other], bench["pricings"][pos], bench["tasks"][pos]))
    out["search_ms"] = _timed(lambda t: engine.search(t, record=False), searches, engine, precomputed, model)
    out["search_filtered_ms"] = _timed(
        lambda tf: engine.search(tf[0], kind=tf[1][0], pricing=tf[1][1], task=tf[1][2], record=False),
        list(zip(searches, filters)), engine, precomputed, model)
    engine._embedders[model] = real
    if not with_log:  # encoding costs the same with or without the log: measured once
        out["search_encoding_ms"] = _timed(lambda t: engine.search(t, record=False), searches[:ENCODED],
                                           None, None, model)
        if len(state.index.vectors) <= FLOOR_MAX:
            out["floor_ms"] = _floor(engine.versions.current()[1] / "capabilities.npy", real, searches[:ENCODED])
    if with_log:
        started = time.perf_counter()
        build_match_graph(engine.store, state.index, real, engine.config)
        out["graph_build_s"] = time.perf_counter() - started
        out["graph_queries"] = len(state.graph.queries)
        ids = bench["ids"]
        matched = state.scores.most_matched(40)
        pairs = [(matched[i], matched[i + 1]) for i in range(0, len(matched) - 1, 2)]
        out["compare_ms"] = _quantiles(_each(lambda p: engine.compare(*p), pairs))
        out["artifact_ms"] = _quantiles(_each(engine.artifact, matched[:20] + [ids[i] for i in range(0, n, n // 20)]))
        started = time.perf_counter()
        graph = engine.subgraph(ego=matched[0], radius=1)
        out["export_first_s"] = time.perf_counter() - started  # the first ego export (export.ego_graph)
        out["export_ms"] = _quantiles(_each(lambda a: engine.graph_export("json", ego=a, radius=1), matched[:20]))
        out["ego_nodes"] = graph.number_of_nodes()
        run = time.time_ns()  # new ids and requests each run: a rerun on the same home adds new ones
        items = [{**item, "event_id": f"fresh-{run}-{i}"}
                 for i, item in enumerate(_log_items(bench, 1000, SEED + 7, fresh=True, tag=f"r{run % 10**9}"))]
        engine.add_events(items)
        engine.refresh_seconds = 1e-9  # the refresh interval has passed: the next read refreshes
        started = time.perf_counter()
        engine.state
        out["refresh_s"] = time.perf_counter() - started
        out["events"] = engine.store.event_count()
    out["serve_rss_gb"] = _peak_rss_gb()
    out["serve_rss_anon_gb"], out["serve_rss_file_gb"] = _rss_parts_gb()
    return out


def phase_log(work: Path, n: int) -> dict:
    from matchgraph.core.events import Event, normalize_query
    from matchgraph.store import create_store

    home = work / f"home-{n}"
    bench = json.loads((home / "bench.json").read_text())
    store = create_store(f"sqlite:///{home / 'matchgraph.db'}")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def events():
        for i, item in enumerate(_log_items(bench, n // 2, SEED + 6, fresh=False)):
            yield Event(event_id=f"scale-{i}", query=item["query"], query_norm=normalize_query(item["query"]),
                        artifact_id=item["artifact_id"], kind=item["kind"], ts=t0 + timedelta(seconds=i))

    start = time.perf_counter()
    stored = store.add_events(events())
    return {"log_events": stored, "log_s": time.perf_counter() - start}


def phase_http(work: Path, n: int) -> dict:
    """A real uvicorn on loopback; /api/search at concurrency 1 and 8; the server's peak RSS."""
    import httpx

    home = work / f"home-{n}"
    bench = json.loads((home / "bench.json").read_text())
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys, uvicorn; from api.app import create_app; "
         f"uvicorn.run(create_app({str(home)!r}, mcp=False), host='127.0.0.1', port={port}, log_level='warning')"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    out: dict = {}
    try:
        start = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.perf_counter() - start > 3600:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        out["http_ready_s"] = time.perf_counter() - start
        queries = [t for t, _ in bench["searches"]]
        for concurrency in (1, 8):
            latencies: list[float] = []
            lock = threading.Lock()

            def client(worker: int) -> None:
                with httpx.Client(base_url=url, timeout=120) as http:
                    for i in range(worker, HTTP_REQUESTS, concurrency):
                        started = time.perf_counter()
                        response = http.get("/api/search", params={"q": queries[i % len(queries)], "record": "false"})
                        response.raise_for_status()
                        with lock:
                            latencies.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            out[f"http_c{concurrency}_ms"] = _quantiles(latencies)
            out[f"http_c{concurrency}_rps"] = len(latencies) / (time.perf_counter() - started)
        out["http_rss_gb"] = _vm_hwm_gb(server.pid)
        out["http_rss_anon_gb"], out["http_rss_file_gb"] = _rss_parts_gb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    return out


def phase_reload(work: Path, n: int) -> dict:
    """A new process's first load after the http phase's server stored the graph and fit for the
    whole log (graph_store.py, fits.py): nothing to build or fit, only to load."""
    from matchgraph.engine.engine import Engine

    engine = Engine(work / f"home-{n}", refresh_seconds=3600)
    start = time.perf_counter()
    state = engine.state
    return {"reload_s": time.perf_counter() - start, "reload_rss_gb": _peak_rss_gb(),
            "reload_events": engine.store.event_count(), "reload_fitted": state.adapter is not None}


# -- helpers ------------------------------------------------------------------------------------
def _log_items(bench: dict, count: int, seed: int, fresh: bool, tag: str = "") -> list[dict]:
    """Events as POST items: a Zipf draw over past requests, each leading to its source artifact
    (80%) or one of five others of the same task next to it (what a person looked at instead);
    20% selects. `fresh` mixes in new requests (~10% of the batch), each ending in `tag`: every run
    passes a new one, so a rerun on the same home times new requests too (encoded, added to the
    past-query index) rather than requests its first run already added."""
    rng = np.random.default_rng(seed)
    pool = bench["pool"] + ([(f"{text} {tag}".strip(), source) for text, source in bench["fresh"]] if fresh else [])
    ids, tasks = bench["ids"], bench["tasks"]
    by_task: dict[str, list[int]] = {}
    place = {}
    for i, t in enumerate(tasks):
        place[i] = len(by_task.setdefault(t, []))
        by_task[t].append(i)
    p = 1.0 / np.arange(1, len(pool) + 1) ** 0.9
    draws = rng.choice(len(pool), size=count, p=p / p.sum())
    if fresh:
        draws = np.where(rng.random(count) < 0.1, rng.integers(len(bench["pool"]), len(pool), count), draws)
    items = []
    for d in draws.tolist():
        text, source = pool[d]
        if rng.random() >= 0.8:
            same = by_task[tasks[source]]
            source = same[(place[source] + int(rng.integers(1, 6))) % len(same)]
        items.append({"query": text, "artifact_id": ids[source],
                      "kind": "select" if rng.random() < 0.2 else "match"})
    return items


class _Precomputed:
    """Stands in for the Embedder in searches timed without encoding: the query vectors were
    made beforehand by the real model."""

    def __init__(self, real, vectors: dict):
        self.real, self.vectors = real, vectors

    def encode_query(self, text: str) -> np.ndarray:
        return self.vectors[text]

    def __getattr__(self, name):
        return getattr(self.real, name)


def _timed(fn, items, engine, precomputed, model) -> dict:
    if engine is not None:
        engine._embedders[model] = _Precomputed(engine.embedder(model), precomputed)
    fn(items[0])  # warm-up (first touch of lazily built structures)
    return _quantiles(_each(fn, items))


def _each(fn, items) -> list[float]:
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _floor(path: Path, embedder, queries: list[str]) -> dict:
    """Query encoding + FAISS flat inner-product search (top 100) over the capability vectors,
    read from the version's capabilities.npy in blocks (not mapped: the flat copy is the floor's
    only extra memory)."""
    import faiss

    from matchgraph.retrieval.index_build import vector_blocks

    index = None
    for block in vector_blocks(path):
        index = index or faiss.IndexFlatIP(block.shape[1])
        index.add(block)

    def one(text: str) -> None:
        index.search(embedder.encode_query(text)[None, :].astype(np.float32), 100)

    one(queries[0])
    return _quantiles(_each(one, queries))


def _quantiles(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
            "p99": float(np.percentile(v, 99))}


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _vm_hwm_gb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _rss_parts_gb(pid: int | str = "self") -> tuple[float, float]:
    """(anonymous, file-backed) resident memory now: the file-backed part is mapped files the
    kernel can take back (capabilities.npy's pages that searches read, BM25's matrix)."""
    parts = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:")):
            parts[line.split(":")[0]] = int(line.split()[1]) / 2**20
    return parts.get("RssAnon", float("nan")), parts.get("RssFile", float("nan"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the driver ---------------------------------------------------------------------------------
PHASES = {"setup": phase_setup, "index": phase_index, "serve": lambda w, n: phase_serve(w, n, False),
          "log": phase_log, "graph": lambda w, n: phase_serve(w, n, True), "http": phase_http,
          "reload": phase_reload}


def run_phase(work: Path, n: int, phase: str) -> dict:
    """Run one phase in a fresh interpreter; its figures are the last line of its stdout."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--sizes", str(n), "--work", str(work)],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode:
        raise SystemExit(f"phase {phase} at {n:,} artifacts failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"[{n:,}] {phase}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def table(results: dict[int, dict]) -> str:
    sizes = sorted(results)
    ms = lambda key, q="p50": lambda r: f"{r[key][q]:.1f}" if key in r else "—"  # noqa: E731
    trio = lambda key: lambda r: " / ".join(f"{r[key][q]:.1f}" for q in ("p50", "p95", "p99")) if key in r else "—"  # noqa: E731
    sec = lambda key, fmt=".1f": lambda r: f"{r[key]:{fmt}}" if key in r else "—"  # noqa: E731
    rows = [
        ("capabilities", lambda r: f"{r['capabilities']:,}" if "capabilities" in r else "—", None),
        ("index from cache (s)", sec("index_s"), "index from cache (s)"),
        ("first load (s)", sec("load_s"), "first load (s)"),
        ("search p50 / p95 / p99, no encoding (ms)", trio("search_ms"), None),
        ("search p50, no encoding (ms)", ms("search_ms"), "search p50, no encoding (ms)"),
        ("search p99, no encoding (ms)", ms("search_ms", "p99"), "search p99, no encoding (ms)"),
        ("search p50 / p95 / p99, with encoding (ms)", trio("search_encoding_ms"), None),
        ("search with kind/pricing/task filter, p50 / p95 / p99 (ms)", trio("search_filtered_ms"), None),
        ("floor: encoding + FAISS flat top-100, p50 / p95 / p99 (ms)", trio("floor_ms"), None),
        ("events in the log", lambda r: f"{r['events']:,}" if "events" in r else "—", None),
        ("first load with the log (s)", sec("graph_load_s"), None),
        ("graph build, full (s)", sec("graph_build_s"), None),
        ("search p50 / p95 / p99 with the log, no encoding (ms)", trio("graph_search_ms"), None),
        ("search with the log, filtered (ms)", trio("graph_search_filtered_ms"), None),
        ("refresh after 1,000 events (s)", sec("refresh_s", ".2f"), "refresh after 1,000 events (s)"),
        ("server ready: stored graph + the 1,000 events after it, refit (s)", sec("http_ready_s"), None),
        ("first load with the stored graph and fit (s)", sec("reload_s"), None),
        ("compare p50 / p95 (ms)", lambda r: f"{r['compare_ms']['p50']:.1f} / {r['compare_ms']['p95']:.1f}"
         if "compare_ms" in r else "—", None),
        ("artifact page p50 / p95 (ms)", lambda r: f"{r['artifact_ms']['p50']:.1f} / {r['artifact_ms']['p95']:.1f}"
         if "artifact_ms" in r else "—", None),
        ("1-hop ego export: first (s) / then p50 (ms)", lambda r: f"{r['export_first_s']:.1f} / "
         f"{r['export_ms']['p50']:.1f}" if "export_ms" in r else "—", None),
        ("HTTP /api/search c=1: p50 / p95 (ms), req/s", lambda r: f"{r['http_c1_ms']['p50']:.0f} / "
         f"{r['http_c1_ms']['p95']:.0f}, {r['http_c1_rps']:.0f}" if "http_c1_ms" in r else "—", None),
        ("HTTP /api/search c=8: p50 / p95 (ms), req/s", lambda r: f"{r['http_c8_ms']['p50']:.0f} / "
         f"{r['http_c8_ms']['p95']:.0f}, {r['http_c8_rps']:.0f}" if "http_c8_ms" in r else "—", None),
        ("peak RSS, server (GB)", sec("http_rss_gb", ".2f"), "peak RSS, server (GB)"),
        ("server RSS at the end: anonymous / mapped files (GB)", lambda r: f"{r['http_rss_anon_gb']:.2f} / "
         f"{r['http_rss_file_gb']:.2f}" if "http_rss_anon_gb" in r else "—", None),
        ("peak RSS, in-process serve with the log (GB)", sec("graph_rss_gb", ".2f"), None),
        ("peak RSS, in-process serve without the log (GB)", sec("serve_rss_gb", ".2f"), None),
        ("in-process serve without the log, RSS at the end: anonymous / mapped files (GB)",
         lambda r: f"{r['serve_rss_anon_gb']:.2f} / {r['serve_rss_file_gb']:.2f}" if "serve_rss_anon_gb" in r
         else "—", None),
        ("peak RSS, index (GB)", sec("index_rss_gb", ".2f"), None),
        ("peak RSS, first load with the stored graph and fit (GB)", sec("reload_rss_gb", ".2f"), None),
    ]
    head = "| | " + " | ".join(f"{n:,} artifacts" for n in sizes) + " | target 100k | target 1M |"
    lines = [head, "|---" * (len(sizes) + 3) + "|"]
    for label, cell, target in rows:
        goal = TARGETS.get(target, ("", ""))
        lines.append(f"| {label} | " + " | ".join(cell(results[n]) for n in sizes)
                     + f" | {goal[0] and f'≤ {goal[0]}'} | {goal[1] and f'≤ {goal[1]}'} |")
    return "\n".join(lines)


PHASE_ORDER = ("setup", "index", "serve", "log", "graph", "http", "reload")


def merged(work: Path, n: int) -> dict:
    """One size's figures from its phases' files; the graph phase's (the same measurements again,
    now with the log) under their own names."""
    out: dict = {}
    for phase in PHASE_ORDER:
        path = work / f"result-{n}-{phase}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        if phase == "graph":
            renamed = {"load_s": "graph_load_s", "search_ms": "graph_search_ms", "serve_rss_gb": "graph_rss_gb",
                       "serve_rss_anon_gb": None, "serve_rss_file_gb": None,
                       "search_filtered_ms": "graph_search_filtered_ms",
                       "search_encoding_ms": "graph_search_encoding_ms", "floor_ms": None, "load_rss_gb": None}
            result = {renamed.get(k, k): v for k, v in result.items() if renamed.get(k, k)}
        out.update(result)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated artifact counts (default 10000,100000,1000000)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/matchgraph-scale"), help="working folder")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--report", action="store_true", help="print the table from the phases already run")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "").replace(",", "")) for s in args.sizes.split(",") if s.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    if args.phase:
        result = json.dumps(PHASES[args.phase](args.work, sizes[0]))
        (args.work / f"result-{sizes[0]}-{args.phase}.json").write_text(result)  # for --report
        print(result)
        return
    if args.report:  # the table from the phases already run (an interrupted run included)
        print(table({n: merged(args.work, n) for n in sizes}))
        return
    if max(sizes) >= 1_000_000:
        print("1,000,000 artifacts: expect about 25 minutes and ~20 GB of disk in --work; "
              "2,000,000: about 45 minutes and ~40 GB.", file=sys.stderr)
    results: dict[int, dict] = {}
    for n in sizes:
        for phase in PHASE_ORDER:
            run_phase(args.work, n, phase)
        results[n] = merged(args.work, n)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
