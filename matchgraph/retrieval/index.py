"""A published index version, loaded: columns for search, artifact records fetched on demand.

Files of a version folder (written in one streamed pass by retrieval/index_build.py, manifest.json last):

    catalog.jsonl          one artifact record a line, in catalog order
    catalog.offsets.npy    (n + 1,) int64 byte offsets of those lines
    columns.json           per artifact: id, name, kind, pricing, task, capability ids
    capabilities.npy       (n_capabilities, dim) float32, L2-normalized; memory-mapped at load
                           unless the ANN holds the vectors itself (flat, HNSW): an IVF holds
                           only its codes and re-ranks its candidates with the mapped rows,
                           float16 then from 1M vectors (config ann.ivf_vectors)
    capabilities.faiss     the ANN over them (flat, HNSW or IVF by size, retrieval/ann.py)
    names/                 the name index (lexical.NameIndex.save), read back at load
    signals.npz            the catalog's raw signals (signals.SIGNAL_COLUMNS): a load scores
                           from them without parsing every record
    bm25/                  the BM25 index (bm25s save format, memory-mapped at load)

What every search reads is held as numpy columns (kind, pricing and task codes, capability
ranges) and lookup tables (position by id, the name index); an artifact's full record is read
from catalog.jsonl when a page or a comparison shows it (`artifact(id)`), and a search result
reads only its matched capability's title and tool from it (`artifacts.shown`).
"""

from __future__ import annotations

import json
import os
import sys
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from threading import Lock
from typing import Any, Iterator, NamedTuple

import numpy as np
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from ..core.catalog import Artifact, ToolRef
from ..core.gcpause import collection_paused
from .ann import ANN, AnnSettings, float_rows
from .index_build import BM25_DIR, CATALOG, COLUMNS, MANIFEST, NAMES, OFFSETS, SIGNALS, IndexWriter
from .lexical import BM25Index, NameIndex


def write_index(folder: Path, artifacts: list[Artifact], vectors: np.ndarray, manifest: dict,
                bm25: dict | None = None, ann: AnnSettings | None = None,
                records: list[str] | None = None) -> None:
    """Write an index version into `folder` (a staging folder; publishing is store/versions.py's job)
    from a catalog held in memory: the streamed build (retrieval/index_build.py) fed one chunk.
    `bm25`: keyword arguments of BM25Index (config search.bm25_*), `ann`: config `ann`;
    `records`: each artifact's `model_dump_json()` when the caller already made them."""
    writer = IndexWriter(folder)
    try:
        writer.add(artifacts, np.asarray(vectors, dtype=np.float32), records)
        writer.finish(manifest, bm25, ann, dim=int(vectors.shape[1]) if np.ndim(vectors) == 2 else None)
    except BaseException:
        writer.abandon()
        raise


class Shown(NamedTuple):
    """What a search result shows of its matched capability beyond the columns."""

    title: str
    tool: ToolRef | None
    description: str = ""


class _ShownCapability(TypedDict, total=False):
    id: str
    title: str
    description: str
    tool: dict[str, Any] | None


class _ShownRecord(TypedDict):
    capabilities: list[_ShownCapability]


# Parses a catalog.jsonl line into its capabilities' ids, titles and tools only (the other fields
# are skipped without building objects): ~8 us a line where a whole Artifact takes ~22 us.
_SHOWN = TypeAdapter(_ShownRecord)


class ArtifactRecords(Sequence):
    """The catalog's artifacts in catalog order, parsed from catalog.jsonl when asked for.

    Indexing reads one line at its byte offset (recently read ones are kept, up to `cache`);
    iterating streams the file (for builds that visit every artifact once).
    """

    def __init__(self, path: Path | None, offsets: np.ndarray, cache: int = 4096,
                 loaded: list[Artifact] | None = None):
        self.path, self.offsets, self.cache_size = path, offsets, cache
        self._loaded = loaded  # an index written before catalog.jsonl existed: kept in memory
        self._cache: OrderedDict[int, Artifact] = OrderedDict()
        self._lock = Lock()
        self._fd: int | None = None  # catalog.jsonl, opened on the first read (see _read)

    def __len__(self) -> int:
        return len(self._loaded) if self._loaded is not None else len(self.offsets) - 1

    def __getitem__(self, pos):
        if isinstance(pos, slice):
            return [self[i] for i in range(*pos.indices(len(self)))]
        if self._loaded is not None:
            return self._loaded[pos]
        pos = int(pos)
        if pos < 0:
            pos += len(self)
        if not 0 <= pos < len(self):
            raise IndexError(pos)
        with self._lock:
            hit = self._cache.get(pos)
            if hit is not None:
                self._cache.move_to_end(pos)
                return hit
        start, end = int(self.offsets[pos]), int(self.offsets[pos + 1])
        artifact = Artifact.model_validate_json(self._read(start, end))
        with self._lock:
            self._cache[pos] = artifact
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return artifact

    def shown(self, pos: int, capability_id: str) -> Shown:
        """Title and tool of capability `capability_id` of the artifact at `pos`, as `self[pos]`
        has them; KeyError when it has no such capability.

        An artifact already parsed answers; else only the capabilities' ids, titles and tools are
        read from its line. The line was written from a validated Artifact (write_index), so
        nothing is lost by not validating it whole again; a search shows one capability of each of
        its ten results, and parsing their records whole cost a first search at 100,000 artifacts
        ~0.5 ms more than a second one (bench/scale.py times first searches)."""
        pos = int(pos)
        if not 0 <= pos < len(self):
            raise IndexError(pos)
        with self._lock:
            hit = self._loaded[pos] if self._loaded is not None else self._cache.get(pos)
        if hit is not None:
            for c in hit.capabilities:
                if c.id == capability_id:
                    return Shown(c.title, c.tool, c.description)
            raise KeyError(capability_id)
        line = self._read(int(self.offsets[pos]), int(self.offsets[pos + 1]))
        for c in _SHOWN.validate_json(line)["capabilities"]:
            if c.get("id") == capability_id:
                tool = c.get("tool")
                return Shown(c["title"], ToolRef.model_validate(tool) if tool is not None else None,
                             c.get("description", ""))
        raise KeyError(capability_id)

    def _read(self, start: int, end: int) -> bytes:
        """Bytes start:end of catalog.jsonl through one descriptor held for the records' life:
        opening the file per read cost half of a cold artifact read (~35 of 65 us)."""
        if not hasattr(os, "pread"):  # no positional reads (Windows): open per read
            with open(self.path, "rb") as fh:
                fh.seek(start)
                return fh.read(end - start)
        if self._fd is None:
            with self._lock:
                if self._fd is None:
                    fd = os.open(self.path, os.O_RDONLY)
                    weakref.finalize(self, os.close, fd)
                    self._fd = fd
        return os.pread(self._fd, end - start, start)

    def __iter__(self) -> Iterator[Artifact]:
        if self._loaded is not None:
            yield from self._loaded
            return
        with open(self.path, "rb") as fh:
            for line in fh:
                yield Artifact.model_validate_json(line)


class CapabilityRows(Sequence):
    """Capability row -> (artifact id, capability id), from the columns (no tuple per row held)."""

    def __init__(self, ids: list[str], cap_ids: list[list[str]], owner: np.ndarray, cap_start: np.ndarray):
        self.ids, self.cap_ids, self.owner, self.cap_start = ids, cap_ids, owner, cap_start

    def __len__(self) -> int:
        return len(self.owner)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        pos = int(self.owner[row])
        return self.ids[pos], self.cap_ids[pos][row - int(self.cap_start[pos])]


class RowsByArtifact(Mapping):
    """artifact id -> its capability rows (a list), computed from the contiguous ranges."""

    def __init__(self, position: dict[str, int], cap_start: np.ndarray, cap_count: np.ndarray):
        self.position, self.cap_start, self.cap_count = position, cap_start, cap_count

    def __getitem__(self, artifact_id: str) -> list[int]:
        pos = self.position[artifact_id]
        start = int(self.cap_start[pos])
        return list(range(start, start + int(self.cap_count[pos])))

    def __iter__(self):
        return iter(self.position)

    def __len__(self) -> int:
        return len(self.position)


class CapabilityKeys:
    """Membership of (artifact id, capability id) pairs, answered from the columns."""

    def __init__(self, position: dict[str, int], cap_ids: list[list[str]]):
        self.position, self.cap_ids = position, cap_ids

    def __contains__(self, key) -> bool:
        artifact_id, capability_id = key
        pos = self.position.get(artifact_id)
        return pos is not None and capability_id in self.cap_ids[pos]


def shared_strings(values: list[str | None]) -> list[str | None]:
    """The values with equal strings one object: json.loads makes a new string for every
    occurrence, and a catalog's tasks (or capability ids) are a few values repeated."""
    return [sys.intern(v) if v else v for v in values]


def shared_tuples(lists: list[list[str]]) -> list[tuple[str, ...]]:
    """Each list as a tuple of shared strings, equal tuples one object: most artifacts of a
    large catalog name their capabilities alike (bench/scale.py's 100,000 artifacts: 24.6 MB of
    lists as parsed, 0.8 MB shared; tasks 7.0 MB and 0.8 MB)."""
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}
    return [seen.setdefault(key, key) for key in (tuple(shared_strings(c)) for c in lists)]


MADV_POPULATE_READ = 22  # Linux >= 5.14; Python's mmap module does not name it


def _populate(mapped: np.memmap) -> None:
    """Map every page of a memory-mapped array now (reading the file in if the page cache lacks
    it) rather than at each search's first touch: at 3,000,000 capabilities, 3,000 candidate rows
    read in place took 2-4 ms while their pages were still being faulted in, 0.9 ms once mapped.
    The pages are the file's page cache, shared and reclaimable; where the kernel refuses the
    advice, pages are mapped as they are read, as before."""
    handle = getattr(mapped, "_mmap", None)
    if handle is None or not hasattr(handle, "madvise"):
        return
    try:
        handle.madvise(MADV_POPULATE_READ)
    except (OSError, ValueError):
        pass


def _codes(values: list[str | None], normalize=lambda v: v) -> tuple[dict[str, int], np.ndarray]:
    """Values as int32 codes over their sorted distinct (normalized) values; None/"" -> -1."""
    normalized = [normalize(v) if v else "" for v in values]
    vocab = {v: i for i, v in enumerate(sorted({v for v in normalized if v}))}
    return vocab, np.array([vocab.get(v, -1) for v in normalized], dtype=np.int32)


def task_key(task: str) -> str:
    """How a task is compared (catalog column, filter, walk): stripped and lower-cased."""
    return task.strip().lower()


def task_codes(tasks: list[str | None]) -> tuple[dict[str, int], np.ndarray]:
    """Task numbers: {task_key: number} (numbered in sorted order) and each artifact's number,
    -1 without a task. The walk's task level and the task filter use them."""
    return _codes(tasks, task_key)


@dataclass
class LoadedIndex:
    """Everything search needs from one index version: columns and lookups in memory, vectors
    held once (the ANN's own copy), artifact records on demand (`artifact(id)`, `artifacts[pos]`)."""

    version: int
    manifest: dict
    ids: list[str]
    names: list[str]  # display names, catalog order
    cap_ids: Sequence[Sequence[str]]  # per artifact, its capability ids (shared_tuples)
    vectors: np.ndarray  # (n_capabilities, dim), L2-normalized; float16 rows (IVF): read via ann.float_rows
    ann: ANN
    bm25: BM25Index
    artifacts: ArtifactRecords
    tasks: list[str | None] = field(default_factory=list)  # as written in the catalog
    kind_codes: dict[str, int] = field(default_factory=dict)
    kind_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    pricing_codes: dict[str, int] = field(default_factory=dict)
    pricing_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    task_codes: dict[str, int] = field(default_factory=dict)  # lower-cased, stripped task -> code
    task_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # Artifacts of each task: task_members[task_starts[t]:task_starts[t + 1]] (positions).
    task_members: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    task_starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    position: dict[str, int] = field(default_factory=dict)  # artifact id -> position
    # An artifact's capability rows are contiguous: cap_start[pos] .. cap_start[pos] + cap_count[pos].
    cap_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cap_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cap_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # row -> position
    # The catalog's raw signals as the build stored them (signals.SIGNAL_COLUMNS); None: a version
    # written before they were stored, whose scores read every record once.
    signal_columns: dict[str, np.ndarray] | None = None
    folder: Path | None = None  # where the version's files are (the name index is read from it)

    @classmethod
    def load(cls, version: int, folder: Path, bm25: dict | None = None,
             ann: AnnSettings | None = None) -> "LoadedIndex":
        """`bm25`: keyword arguments of BM25Index (config search.bm25_*); a saved BM25 built with
        other settings (or none, in a version written by an older matchgraph) is rebuilt."""
        manifest = json.loads((folder / MANIFEST).read_text())
        if (folder / COLUMNS).exists():
            columns = json.loads((folder / COLUMNS).read_text())
            records = ArtifactRecords(folder / CATALOG, np.load(folder / OFFSETS))
        else:  # written before columns.json: the whole catalog.json, held in memory
            loaded = [Artifact.model_validate(r) for r in json.loads((folder / "catalog.json").read_text())]
            columns = {"id": [a.id for a in loaded], "name": [a.name for a in loaded],
                       "kind": [a.kind for a in loaded], "pricing": [a.pricing for a in loaded],
                       "task": [a.task for a in loaded],
                       "capabilities": [[c.id for c in a.capabilities] for a in loaded]}
            records = ArtifactRecords(None, np.zeros(0, np.int64), loaded=loaded)
        bm25 = bm25 or {}
        lexical = BM25Index.load(folder / BM25_DIR, **bm25) or \
            BM25Index([a.lexical_text() for a in records], **bm25)
        ann_index = ANN.load(folder / "capabilities.faiss", ann)
        vectors = ann_index.stored_vectors()  # the ANN holds them already: one copy per process
        if vectors is None or len(vectors) != sum(len(c) for c in columns["capabilities"]):
            # A plain array over the mapped file: np.memmap's indexing costs ~40 us a call. Only
            # the rows read are resident, and they are page cache the kernel can take back.
            mapped = np.load(folder / "capabilities.npy", mmap_mode="r")
            _populate(mapped)
            vectors = np.asarray(mapped)
            if ann_index.codes_only:  # an IVF of codes re-ranks its candidates with these rows
                ann_index.attach(vectors)
        index = cls(version=version, manifest=manifest, ids=columns["id"], names=columns["name"],
                    cap_ids=shared_tuples(columns["capabilities"]), tasks=shared_strings(columns["task"]),
                    vectors=vectors,
                    ann=ann_index, bm25=lexical, artifacts=records)
        index._derive(columns)
        index.folder = folder
        if (folder / SIGNALS).exists():
            with np.load(folder / SIGNALS) as stored:
                index.signal_columns = {name: stored[name] for name in stored.files}
        return index

    def _derive(self, columns: dict) -> None:
        self.position = {aid: i for i, aid in enumerate(self.ids)}
        self.kind_codes, self.kind_of = _codes(columns["kind"])
        self.pricing_codes, self.pricing_of = _codes(columns["pricing"])
        self.task_codes, self.task_of = task_codes(columns["task"])
        order = np.argsort(self.task_of, kind="stable")
        order = order[self.task_of[order] >= 0]
        self.task_members = order.astype(np.int64)
        self.task_starts = np.searchsorted(self.task_of[order], np.arange(len(self.task_codes) + 1))
        self.cap_count = np.array([len(c) for c in self.cap_ids], dtype=np.int64)
        self.cap_start = np.cumsum(self.cap_count) - self.cap_count
        self.cap_owner = np.repeat(np.arange(len(self.ids), dtype=np.int64), self.cap_count)

    @cached_property
    def rows(self) -> CapabilityRows:
        """capability row -> (artifact id, capability id)."""
        return CapabilityRows(self.ids, self.cap_ids, self.cap_owner, self.cap_start)

    @cached_property
    def cap_rows(self) -> RowsByArtifact:
        """artifact id -> capability rows."""
        return RowsByArtifact(self.position, self.cap_start, self.cap_count)

    @cached_property
    def tools(self):
        """Capability kinds and the tools' own BM25 (retrieval/tool_index.py), built on first use."""
        from .tool_index import build_tool_index

        with collection_paused():
            return build_tool_index(self, self.bm25.settings)

    @cached_property
    def name_index(self) -> NameIndex:
        """Names and ids for the name signal (built on first use; a served state builds it at load)."""
        with collection_paused():
            stored = NameIndex.load(self.folder / NAMES) if self.folder is not None else None
            return stored if stored is not None and stored.n == len(self.ids) else NameIndex(self.names, self.ids)

    @property
    def capability_keys(self) -> "CapabilityKeys":
        """`(artifact id, capability id) in index.capability_keys`: is it in the catalog."""
        return CapabilityKeys(self.position, self.cap_ids)

    def members_of_tasks(self, tasks: np.ndarray) -> np.ndarray:
        """Positions of the artifacts of these task numbers (concatenated)."""
        parts = [self.task_members[self.task_starts[t]:self.task_starts[t + 1]] for t in tasks]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    @cached_property
    def _kind_names(self) -> list[str]:
        return sorted(self.kind_codes, key=self.kind_codes.__getitem__)  # code -> kind

    @cached_property
    def _pricing_names(self) -> list[str]:
        return sorted(self.pricing_codes, key=self.pricing_codes.__getitem__)  # code -> pricing

    def kind(self, pos: int) -> str:
        """Kind of the artifact at `pos`, from its code column (every artifact has one)."""
        return self._kind_names[int(self.kind_of[pos])]

    def pricing(self, pos: int) -> str:
        """Pricing of the artifact at `pos`, from its code column (every artifact has one)."""
        return self._pricing_names[int(self.pricing_of[pos])]

    def artifact(self, artifact_id: str) -> Artifact:
        return self.artifacts[self.position[artifact_id]]

    def capability_vector(self, artifact_id: str, capability_id: str) -> np.ndarray:
        pos = self.position[artifact_id]
        try:
            return float_rows(self.vectors, self.cap_start[pos] + self.cap_ids[pos].index(capability_id))
        except ValueError:
            raise KeyError(capability_id) from None
