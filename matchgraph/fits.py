"""The home's store of adapter fits (adapter.py): one fit per catalog version, log and settings.

Every CLI command builds its state anew and a server refits as events arrive; a fit costs seconds,
or minutes with the encoder, so each is stored by content address (adapter.fit_key) and loaded
when the same catalog, log and settings come again. A fit is complete once its .npz is in place
(Adapter.save writes it last); the newest KEEP are kept.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Callable

from .adapter import Adapter, fit_key, learn
from .graph import MatchGraph
from .index import LoadedIndex
from .search import request_part

log = logging.getLogger(__name__)

KEEP = 4
STALE_SECONDS = 3600  # a save takes seconds to minutes (bench/adapter_fit.py)


def past_requests(graph: MatchGraph, markers: list[str]) -> list[str]:
    """Each past query of the graph as it was asked, without a pasted sample (search.request_part):
    the encoder learns from the request itself (the graph's own texts are normalized, markers lost)."""
    return [request_part(graph.labels[q], markers) for q in graph.queries]


def stored_or_learned(folder: Path, index: LoadedIndex, graph: MatchGraph, conf: dict,
                      model: Callable[[], object], encode=None) -> Adapter | None:
    """The adapter for this catalog and log: stored in `folder` when this exact fit was made
    before, else learned (adapter.learn, with the SentenceTransformer `model()`) and stored.
    None when the log is empty or learning is off; `conf` is config `search`."""
    if graph.empty or conf["adapter_steps"] <= 0:
        return None
    texts = past_requests(graph, conf["input_markers"])
    path = folder / f"{fit_key(index, texts, graph.query_vectors, graph.weights, conf)}.npz"
    if path.exists():
        try:
            return Adapter.load(path)
        except (OSError, ValueError, KeyError) as exc:  # a damaged fit is refitted, not fatal
            log.warning("refitting the adapter: %s unreadable (%s)", path, exc)
    adapter = learn(index, texts, graph.query_vectors, graph.weights, conf, model(), encode)
    if adapter is not None:
        adapter.save(path)
        prune_fits(folder)
    return adapter


def prune_fits(folder: Path, now: float | None = None) -> None:
    """Keep the newest KEEP stored fits, and clear what a crashed save left behind (a
    `.partial` temporary, an encoder folder whose .npz never came) once it is STALE_SECONDS old:
    younger, it may be a save that another process is still writing."""
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
