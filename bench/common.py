"""What the bench scripts share: where the data is, the labeled sets, and an engine working on a set.

A script run as `python bench/x.py` has bench/ first on its import path, so `import common` (and
`from quality import Baselines`) are plain imports: no script edits `sys.path`. Tests that import
a bench script put bench/ on their path once (tests/project/test_bench_tools.py).

- Paths: ROOT (the repository), DATA (../shared/data: one folder per labeled set), GORILLA (the
  default set of the single-set scripts), CACHE (where each set's indexed home is kept).
- Sets: `set_names` (--sets, or every folder of DATA holding a catalog), `set_files` (a set's
  catalog, queries and train log), `read_rows` (a JSONL file), `chosen_by_request` (a log's
  requests and what was chosen), `document` (the baselines' text of an artifact).
- Engines: `cached_home` (a set's indexed home, embedded once), `working_engine` (an Engine on a
  throwaway copy of it), `model` (the default model, loaded once per process), `QueryVectors`
  (every query encoded once and reused by every run in the process).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# The package is imported where an engine is made, not here: scripts that only need a path (scale.py
# measures a cold process's load, pseudo_split.py needs no model) stay as light as before.

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
GORILLA = DATA / "gorilla-hf"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "matchgraph-quality"
MODEL = "default"
ASKED = "asked"  # --split asked: the log's own requests asked again


def model():
    """The default sentence-transformers model (matchgraph.retrieval.encoders caches it per process)."""
    from matchgraph.retrieval.encoders import load_model

    return load_model(MODEL)


def set_files(name: str, split: str) -> tuple[str, dict[str, Path]]:
    """(label, {catalog, queries, train}) of a set named by its folder under DATA or a path."""
    folder = Path(name) if Path(name).is_dir() else DATA / name
    queries = folder / ("queries-train.jsonl" if split == ASKED else f"queries-{split}.jsonl")
    files = {"catalog": folder / "catalog.jsonl", "queries": queries, "train": folder / "queries-train.jsonl"}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise SystemExit(f"--sets {name}: missing {', '.join(missing)}")
    return folder.name, files


def set_names(sets: str | None) -> list[str]:
    """The names given to --sets (comma-separated), or every folder of DATA holding a catalog."""
    if sets:
        return [name.strip() for name in sets.split(",") if name.strip()]
    return sorted(p.name for p in DATA.iterdir() if (p / "catalog.jsonl").exists())


def read_rows(path: str | Path) -> list[dict]:
    """The JSON objects of a JSONL file (a set's queries or log), blank lines skipped."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def chosen_by_request(train: Path) -> dict[str, list[str]]:
    """The log's requests (as written, in file order) and the artifacts selected for each (its
    lines are one select each), sorted and distinct."""
    chosen: dict[str, set[str]] = {}
    for event in read_rows(train):
        chosen.setdefault(event["query"], set()).add(event["artifact_id"])
    return {query: sorted(ids) for query, ids in chosen.items()}


def document(artifact) -> str:
    """The baselines' one text per artifact: name, task, tags, description and capability texts."""
    parts = [artifact.name, artifact.task or "", " ".join(artifact.tags), artifact.description]
    return " ".join(p for p in parts + [c.text() for c in artifact.capabilities] if p)


def cached_home(cache: Path, label: str, files: dict[str, Path]) -> Path:
    """The set's indexed home under `cache` (created or brought up to date: only new texts are
    embedded), with the baseline documents' and past requests' vectors in its store too."""
    from matchgraph import Engine
    from matchgraph.core.catalog import load_catalog
    from matchgraph.core.events import normalize_query, request_part
    from matchgraph.retrieval.needs import split_needs

    home = cache / label
    engine = Engine(home)
    engine.index([str(files["catalog"])], progress=True)
    embedder = engine.embedder()
    embedder.encode([document(a) for a in load_catalog([str(files["catalog"])])], progress=True)
    train = [row["query"] for row in read_rows(files["train"])]
    parts = {part for text in train for part in split_needs(request_part(text, engine.config["search"]["input_markers"]))}
    # The graph embeds past requests normalized; the adapter's fit embeds their parts (split_log).
    embedder.encode(sorted({normalize_query(t) for t in train} | parts), progress=True)
    engine.close()
    return home


@contextmanager
def working_engine(cache: Path, label: str, files: dict[str, Path], log: bool, prefix: str):
    """An Engine on a throwaway copy of the set's cached home (cached_home), with the set's train
    log ingested first when `log`; closed and removed on exit."""
    from matchgraph import Engine

    home = cached_home(cache, label, files)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp) / "home"
        shutil.copytree(home, work)
        engine = Engine(work)
        try:
            if log:
                engine.ingest(files["train"])
                engine.refresh()
            yield engine
        finally:
            engine.close()


class QueryVectors:
    """Every request and part is encoded once, in batches through the home's vector cache, and
    reused by every fold and setting: the same model gives the same vectors, and one encoding per
    search on 2 cores costs more than everything else in a fold."""

    def __init__(self):
        self.vectors: dict[str, np.ndarray] = {}

    def install(self) -> None:
        from matchgraph.engine import reading
        from matchgraph.retrieval.embeddings import Embedder
        memo, encode_with = self.vectors, reading.encode_with
        Embedder.encode_query = lambda embedder, text: memo[text] if text in memo else embedder.encode([text])[0]
        reading.encode_with = lambda model, texts, **kw: np.stack([memo[t] for t in texts]) \
            if texts and all(t in memo for t in texts) else encode_with(model, texts, **kw)

    def add(self, home: Path, requests: list[str], raw: bool = False) -> None:
        """Encode `requests` as search sees them (sample cut off, parts of split ones) and, with
        `raw`, as they are (the baselines encode the whole text)."""
        from matchgraph import Engine
        from matchgraph.core.events import request_part
        from matchgraph.retrieval.needs import split_needs

        engine = Engine(home)
        conf = engine.config["search"]
        texts = [request_part(t, conf["input_markers"]) for t in requests]
        texts += sorted({p for t in texts for p in split_needs(t, max(conf["needs_min_parts"], 2))})
        texts += requests if raw else []  # as the baselines send them: search never splits these
        texts = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        self.vectors.update(zip(texts, engine.embedder().encode(texts, progress=True)))
        engine.close()
