"""The home's store of adapter fits (learn/adapter.py): one fit per catalog version, log and settings.

Every CLI command builds its state anew and a server refits as events arrive; a fit costs seconds
(bench/adapter_fit.py), so each is stored by content address (adapter.fit_key) and loaded
when the same catalog, log and settings come again. A fit is complete once its .npz is in place
(Adapter.save writes it last); the newest KEEP are kept.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Callable

from ..core.events import request_part
from ..graph.match_graph import MatchGraph
from ..retrieval.index import LoadedIndex
from .adapter import Adapter, fit_key, learn, tool_choices

log = logging.getLogger(__name__)

KEEP = 4
STALE_SECONDS = 3600  # a save takes seconds to minutes (bench/adapter_fit.py)


def past_requests(graph: MatchGraph, markers: list[str]) -> list[str]:
    """Each past query of the graph as it was asked, without a pasted sample (search.request_part):
    the encoder learns from the request itself (the graph's own texts are normalized, markers lost)."""
    return [request_part(graph.labels[q], markers) for q in graph.queries]


def stored_or_learned(folder: Path, index: LoadedIndex, graph: MatchGraph, conf: dict,
                      model: Callable[[], object], encode=None, newest: bool = False) -> Adapter | None:
    """The adapter for this catalog and log: stored in `folder` when this exact fit was made
    before, else learned (adapter.learn, with the SentenceTransformer `model()`) and stored.
    None when the log is empty or learning is off; `conf` is config `search`.

    `newest` (commands that only read or ingest): when this exact fit is not stored, the newest
    fit stored for this index version serves instead, however many events came since; one is
    learned only when none is stored. Every exact fit returned is noted as the version's newest."""
    if graph.empty or conf["adapter_steps"] <= 0:
        return None
    texts = past_requests(graph, conf["input_markers"])
    chosen = tool_choices(graph, index)
    path = folder / f"{fit_key(index, texts, graph.query_vectors, graph.weights, conf, chosen)}.npz"
    pointer = folder / f"latest-v{index.version}"
    adapter = _load(path)
    if adapter is None and newest and pointer.exists():
        older = _load(folder / pointer.read_text().strip())
        if older is not None:
            return older
    if adapter is None:
        adapter = learn(index, texts, graph.query_vectors, graph.weights, conf, model(), encode, chosen)
        if adapter is None:
            return None
        adapter.save(path)
        prune_fits(folder)
    _note_newest(pointer, path)
    return adapter


def _load(path: Path) -> Adapter | None:
    """The fit stored at `path`; None when there is none or it is unreadable (then refitted)."""
    if not path.exists():
        return None
    try:
        return Adapter.load(path)
    except (OSError, ValueError, KeyError) as exc:  # a damaged fit is refitted, not fatal
        log.warning("refitting the adapter: %s unreadable (%s)", path, exc)
        return None


def _note_newest(pointer: Path, path: Path) -> None:
    """Point `pointer` (the index version's newest fit) at `path`, atomically."""
    try:
        pointer.with_suffix(".tmp").write_text(path.name)
        pointer.with_suffix(".tmp").replace(pointer)
    except OSError as exc:  # only a later read-only command loses: it fits once itself
        log.warning("could not note the newest adapter fit: %s", exc)


def prune_fits(folder: Path, now: float | None = None) -> None:
    """Keep the newest KEEP stored fits, and clear what a crashed save left behind (a `.partial`
    temporary; an older version's fine-tuned encoder folder whose .npz is gone) once it is
    STALE_SECONDS old: younger, it may be a save that another process is still writing."""
    now = time.time() if now is None else now
    try:
        for old in sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime)[:-KEEP]:
            old.unlink(missing_ok=True)
            shutil.rmtree(old.with_suffix(".encoder"), ignore_errors=True)
        orphans = [p for p in folder.glob("*.encoder") if not p.with_suffix(".npz").exists()]
        for left in [*folder.glob("*.partial"), *orphans]:
            if now - left.stat().st_mtime >= STALE_SECONDS:
                shutil.rmtree(left) if left.is_dir() else left.unlink()
    except OSError:  # another process pruned at the same time
        pass
