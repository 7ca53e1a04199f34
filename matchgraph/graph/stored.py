"""The home's stored match graph: the last full build of an index version's graph, kept on disk
so that a new process continues from it instead of building it again.

A full build at 1,000,000 artifacts and 500,000 events took 33-114 s, most of it embedding and
merging the past requests; every new server paid it before it was ready. The graph is stored with
its Evidence (the raw counts, the query vectors and the store cursor it was read up to), so a load
is the incremental refresh a server already does: build_match_graph(previous=stored) reads only
the events stored after the cursor, and reads them all again when the store says it cannot
continue (a purge changed the cursor's generation, events were deleted, another version, model
or merge setting: Evidence.key). The adapter fit is stored per fit already (learn/fits.py); the same
graph gives the same fit key, so the stored fit is found.

The file is a pickle of the graph's fields (the past-query FAISS index serialized), written
atomically; it is read only from the home's own folder, as trusted as the home's store.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import fields
from pathlib import Path

import faiss
import numpy as np

from ..retrieval.ann import ANN, AnnSettings
from ..retrieval.index import LoadedIndex
from .match_graph import MatchGraph

log = logging.getLogger(__name__)
FOLDER = "graphs"  # under the home
FORMAT = 1
STALE_SECONDS = 3600  # a save takes seconds; a partial file this old was left by a killed process
_SKIPPED = ("index", "query_ann")  # the loaded index is the caller's; the FAISS index is serialized


def graph_path(home: Path, index: LoadedIndex) -> Path:
    return home / FOLDER / f"v{index.version}.pkl"


def _identity(index: LoadedIndex) -> tuple:
    """What must match for a stored graph to belong to this index: its version, and when it was
    made (a home rebuilt from scratch numbers its versions from 1 again)."""
    return index.version, index.manifest.get("created_at"), len(index.ids)


def save_graph(home: Path, graph: MatchGraph) -> Path | None:
    """Store `graph` (a build with Evidence) as the index version's graph, replacing the one
    stored before and removing other versions'; None when it cannot be stored (logged: the
    next process builds it again, nothing else is lost)."""
    if graph.evidence is None:
        return None
    path = graph_path(home, graph.index)
    payload = {"format": FORMAT, "identity": _identity(graph.index),
               "fields": {f.name: getattr(graph, f.name) for f in fields(graph) if f.name not in _SKIPPED},
               "query_ann": None if graph.query_ann is None else faiss.serialize_index(graph.query_ann.index)}
    partial = path.with_suffix(f".{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
        for other in path.parent.glob("v*.pkl"):
            if other != path:
                other.unlink(missing_ok=True)
        for left in path.parent.glob("*.partial"):  # a save killed midway, once surely not running
            if time.time() - left.stat().st_mtime > STALE_SECONDS:
                left.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not store the match graph: %s", exc)
        partial.unlink(missing_ok=True)
        return None
    return path


def load_graph(home: Path, index: LoadedIndex) -> MatchGraph | None:
    """The stored graph of this index version, attached to `index`; None when there is none, it
    belongs to another build of the version, or it cannot be read (then it is built again)."""
    path = graph_path(home, index)
    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            payload = pickle.load(fh)  # noqa: S301 -- the home's own file (module docstring)
        if payload.get("format") != FORMAT or tuple(payload["identity"]) != _identity(index):
            return None
        query_ann = payload["query_ann"]
        if query_ann is not None:
            settings = AnnSettings()  # what refill_ann builds the past-query index with
            query_ann = ANN(faiss.deserialize_index(np.asarray(query_ann)), settings.hnsw_ef_search,
                            settings.ivf_probe, settings.ivf_refine)
        return MatchGraph(index=index, query_ann=query_ann, **payload["fields"])
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("building the match graph again: %s unreadable (%s)", path, exc)
        return None
