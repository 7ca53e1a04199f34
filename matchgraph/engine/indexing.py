"""`matchgraph index`: validate a catalog, embed its new capability texts, publish a new index
version. Mixed into Engine."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from ..core.config import bm25_settings
from ..core.errors import ValidationFailed
from ..core.faults import fault_point
from ..core.gcpause import collection_paused
from ..retrieval.ann import AnnSettings
from ..retrieval.embeddings import Embedder
from ..retrieval.index_build import build_from_catalog, index_rows
from ..store import SQLStore
from ..store.versions import IndexVersions


class Indexing:
    """Publishing index versions (mixed into Engine, whose __init__ sets the attributes below)."""

    config: dict
    store: SQLStore
    versions: IndexVersions
    embedder: Callable[..., Embedder]  # Engine.embedder(model)

    @collection_paused()  # millions of objects that all live to the end (core/gcpause.py)
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
        embedder = self.embedder(model)
        embedded = 0

        def encode(texts: list[str]):
            nonlocal embedded
            vectors = embedder.encode(texts, progress=progress)
            embedded += embedder.last_embedded
            return vectors

        with self.versions.publishing():
            # store first, then CURRENT (store/versions.py): a crash between any two steps leaves the
            # old version served, store and folder agreeing, or a flip reconcile() finishes
            stored = self.store.latest_version()
            self.versions.reconcile(stored, locked=True)  # a publish an earlier crash cut short
            version, staging = self.versions.staging(stored)
            try:  # one streamed pass (retrieval/index_build.py): the catalog is never held whole
                problems: list[str] = []
                writer = build_from_catalog(staging, paths, limits, encode, problems)
                if problems:
                    raise ValidationFailed("catalog is invalid, nothing was indexed", problems)
                if writer.artifacts < limits["min_artifacts"]:
                    raise ValidationFailed("catalog cannot be served, nothing was indexed", [
                        f"{', '.join(map(str, paths))}: {writer.artifacts} artifact(s), fewer than "
                        f"limits.min_artifacts ({limits['min_artifacts']}); the index in use stays"])
                artifacts, capabilities = writer.artifacts, writer.capabilities
                manifest = {"version": version, "model": model, "dim": writer.dim or embedder.dim,
                            "catalog": paths, "artifacts": artifacts, "capabilities": capabilities,
                            "created_at": datetime.now(timezone.utc).isoformat()}
                writer.finish(manifest, bm25_settings(self.config), AnnSettings.from_config(self.config))
                del writer
                final = self.versions.place(version, staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            fault_point("publish:placed")
            try:  # the store's rows streamed from the placed folder (index_build.index_rows)
                self.store.publish_version(version, model, paths, index_rows(final), artifacts, capabilities,
                                           embedded)
            except BaseException:  # the store does not know it: no reader may be pointed at it
                shutil.rmtree(final, ignore_errors=True)
                raise
            fault_point("publish:stored")
            self.versions.point(version)
            fault_point("publish:pointed")
            self.versions.prune(self.config["keep_versions"])
        # No reset of self._state: readers keep the old one until the version check swaps it.
        return {"version": version, "artifacts": artifacts, "capabilities": capabilities,
                "embedded": embedded, "cached": capabilities - embedded, "model": model}
