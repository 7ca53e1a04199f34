"""`matchgraph index`: validate a catalog, embed its new capability texts, publish a new index
version. Mixed into Engine."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .ann import AnnSettings
from .catalog import capability_texts, load_catalog
from .config import bm25_settings
from .embeddings import Embedder
from .errors import ValidationFailed
from .faults import fault_point
from .gcpause import collection_paused
from .index import dump_records, write_index
from .store import SQLStore
from .versions import IndexVersions


class Indexing:
    """Publishing index versions (mixed into Engine, whose __init__ sets the attributes below)."""

    config: dict
    store: SQLStore
    versions: IndexVersions
    embedder: Callable[..., Embedder]  # Engine.embedder(model)

    @collection_paused()  # millions of objects that all live to the end (gcpause.py)
    def index(self, catalog: Iterable[str | Path] | None = None, model: str | None = None,
              progress: bool = False) -> dict[str, Any]:
        """Validate the catalog, embed new capability texts, build FAISS and publish a new version.

        A bad catalog raises ValidationFailed before anything is written; the served index stays.
        Returns {"version", "artifacts", "capabilities", "embedded", "cached", "model"}.
        """
        last = self.store.versions()
        paths = [str(Path(p).resolve()) for p in catalog] if catalog else \
            (last[0]["catalog"] if last else list(self.config["catalog"]))
        if not paths:
            raise ValidationFailed("index", ["--catalog: no catalog given and no previous index"])
        model = model or (self.config["model"] if catalog or not last else last[0]["model"])
        limits = self.config["limits"]
        artifacts = load_catalog(paths, limits)
        if len(artifacts) < limits["min_artifacts"]:
            raise ValidationFailed("catalog cannot be served, nothing was indexed", [
                f"{', '.join(map(str, paths))}: {len(artifacts)} artifact(s), fewer than "
                f"limits.min_artifacts ({limits['min_artifacts']}); the index in use stays"])
        embedder = self.embedder(model)
        texts = capability_texts(artifacts)
        vectors = embedder.encode(texts, progress=progress)
        embedded = embedder.last_embedded
        with self.versions.publishing():
            # store first, then CURRENT (versions.py): a crash between any two steps leaves the
            # old version served, store and folder agreeing, or a flip reconcile() finishes
            stored = self.store.latest_version()
            self.versions.reconcile(stored, locked=True)  # a publish an earlier crash cut short
            version, staging = self.versions.staging(stored)
            manifest = {"version": version, "model": model, "dim": int(vectors.shape[1]),
                        "catalog": paths, "artifacts": len(artifacts), "capabilities": len(texts),
                        "created_at": datetime.now(timezone.utc).isoformat()}
            records = dump_records(artifacts)  # once for catalog.jsonl, the store and its hashes
            try:
                write_index(staging, artifacts, vectors, manifest, bm25_settings(self.config),
                            AnnSettings.from_config(self.config), records)
                final = self.versions.place(version, staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            fault_point("publish:placed")
            try:
                self.store.publish_version(version, model, paths, artifacts, records, len(texts), embedded)
            except BaseException:  # the store does not know it: no reader may be pointed at it
                shutil.rmtree(final, ignore_errors=True)
                raise
            fault_point("publish:stored")
            self.versions.point(version)
            fault_point("publish:pointed")
            self.versions.prune(self.config["keep_versions"])
        # No reset of self._state: readers keep the old one until the version check swaps it.
        return {"version": version, "artifacts": len(artifacts), "capabilities": len(texts),
                "embedded": embedded, "cached": len(texts) - embedded, "model": model}
