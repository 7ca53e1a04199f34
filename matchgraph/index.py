"""A published index version loaded into memory: catalog, capability vectors, FAISS, BM25, names."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .ann import ANN, create_ann
from .catalog import Artifact
from .lexical import BM25Index, NameMatcher

MANIFEST = "manifest.json"


def write_index(folder: Path, artifacts: list[Artifact], vectors: np.ndarray, manifest: dict,
                ann_kind: str = "flat") -> None:
    """Write an index version into `folder` (a staging folder; publishing is versions.py's job)."""
    rows = [[a.id, c.id] for a in artifacts for c in a.capabilities]
    assert len(rows) == len(vectors), "one vector per capability"
    (folder / "catalog.json").write_text(json.dumps([a.model_dump(mode="json") for a in artifacts]))
    (folder / "rows.json").write_text(json.dumps(rows))
    np.save(folder / "capabilities.npy", vectors.astype(np.float32))
    create_ann(vectors, ann_kind).save(folder / "capabilities.faiss")
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))  # written last: marks it complete


@dataclass
class LoadedIndex:
    """Everything search needs from one index version, in memory."""

    version: int
    manifest: dict
    artifacts: list[Artifact]
    rows: list[tuple[str, str]]  # capability row -> (artifact id, capability id)
    vectors: np.ndarray  # (n_capabilities, dim), L2-normalized
    ann: ANN
    bm25: BM25Index
    names: NameMatcher
    position: dict[str, int] = field(default_factory=dict)  # artifact id -> position
    cap_rows: dict[str, list[int]] = field(default_factory=dict)  # artifact id -> capability rows
    # An artifact's capability rows are contiguous: cap_start[pos] .. cap_start[pos] + cap_count[pos].
    cap_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cap_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def load(cls, version: int, folder: Path, bm25: dict | None = None) -> "LoadedIndex":
        """`bm25`: keyword arguments of BM25Index (config search.bm25_*; bm25s defaults without)."""
        manifest = json.loads((folder / MANIFEST).read_text())
        artifacts = [Artifact.model_validate(r) for r in json.loads((folder / "catalog.json").read_text())]
        rows = [tuple(r) for r in json.loads((folder / "rows.json").read_text())]
        index = cls(version=version, manifest=manifest, artifacts=artifacts, rows=rows,
                    vectors=np.load(folder / "capabilities.npy"),
                    ann=ANN.load(folder / "capabilities.faiss"),
                    bm25=BM25Index([a.lexical_text() for a in artifacts], **(bm25 or {})),
                    names=NameMatcher([a.name for a in artifacts], [a.id for a in artifacts]))
        index.position = {a.id: i for i, a in enumerate(artifacts)}
        for row, (artifact_id, _) in enumerate(rows):
            index.cap_rows.setdefault(artifact_id, []).append(row)
        index.cap_count = np.array([len(a.capabilities) for a in artifacts], dtype=np.int64)
        index.cap_start = np.cumsum(index.cap_count) - index.cap_count
        return index

    def artifact(self, artifact_id: str) -> Artifact:
        return self.artifacts[self.position[artifact_id]]

    def capability_vector(self, artifact_id: str, capability_id: str) -> np.ndarray:
        for row in self.cap_rows[artifact_id]:
            if self.rows[row][1] == capability_id:
                return self.vectors[row]
        raise KeyError(capability_id)
