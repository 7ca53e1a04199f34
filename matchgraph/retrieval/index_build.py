"""Writing an index version in one streamed pass (the files of retrieval/index.py's docstring).

A catalog of millions cannot be held as objects next to its vectors (at 1,000,000 artifacts the
build held 13 GB of them before FAISS and peaked at 20 GB). `IndexWriter` takes the catalog a
chunk at a time: each chunk's records go to catalog.jsonl, its columns to small lists, its
capability vectors to capabilities.npy on disk. The ANN is then built from that file in chunks
(an IVF trains on a sample of rows and keeps only its codes: the refine vectors are the file,
rewritten as float16 from 1M vectors and memory-mapped when served), and BM25 last, from the lexical
texts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..core.catalog import Artifact, iter_catalog
from ..core.signals import SIGNAL_COLUMNS, signal_row
from .ann import AnnSettings, create_ann_streamed, float_rows
from .lexical import BM25Index, NameIndex

MANIFEST = "manifest.json"
CATALOG, OFFSETS, COLUMNS, BM25_DIR = "catalog.jsonl", "catalog.offsets.npy", "columns.json", "bm25"
NAMES = "names"  # the name index (lexical.NameIndex.save)
LEXICAL = "lexical.tmp"  # BM25's documents while the version is written
VECTORS, ANN_FILE, SIGNALS = "capabilities.npy", "capabilities.faiss", "signals.npz"
CHUNK_ARTIFACTS = 20_000  # artifacts validated, dumped and looked up in the cache at a time
CHUNK_ROWS = 100_000  # vectors read back and added to the ANN at a time (150 MB at 384 dims)
_HEADER = 128  # bytes kept for the .npy header: its shape is known only at the end


class VectorFile:
    """A float32 (or `dtype`) .npy written a block of rows at a time: the header is written again
    with the real shape on `close` (it is padded to a fixed size for that)."""

    def __init__(self, path: Path, dtype: str = "<f4"):
        self.path, self.rows, self.dim, self.dtype = path, 0, None, dtype
        self._fh = open(path, "wb")
        self._fh.write(b"\0" * _HEADER)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if not len(block):
            return
        if self.dim is None:
            self.dim = int(block.shape[1])
        elif block.shape[1] != self.dim:
            raise ValueError(f"vectors of {block.shape[1]} dimensions after {self.dim}")
        self._fh.write(block.tobytes())
        self.rows += len(block)

    def close(self, dim: int) -> None:
        """Write the header for (rows, dim); `dim` stands when no row came."""
        self.dim = self.dim or dim
        header = {"descr": self.dtype, "fortran_order": False, "shape": (self.rows, self.dim)}
        text = repr(header).encode("latin1")
        pad = _HEADER - 10 - len(text) - 1
        self._fh.seek(0)
        self._fh.write(b"\x93NUMPY\x01\x00" + (_HEADER - 10).to_bytes(2, "little") + text + b" " * pad + b"\n")
        self._fh.close()

    def discard(self) -> None:
        """Close and remove the file (a write that failed)."""
        self._fh.close()
        self.path.unlink(missing_ok=True)


def vector_blocks(path: Path, chunk: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """capabilities.npy's rows as float32, `chunk` at a time, read into one reused buffer (read,
    not mapped: mapped pages would count in the builder's resident memory)."""
    mapped = np.load(path, mmap_mode="r")  # for the shape, the type and where the data starts
    shape, start, dtype = mapped.shape, mapped.offset, mapped.dtype
    del mapped
    with open(path, "rb") as fh:
        fh.seek(start)
        buffer = np.empty((min(chunk, max(shape[0], 1)), shape[1]), dtype=dtype)
        left = shape[0]
        while left:
            rows = min(left, len(buffer))
            view = buffer[:rows]
            fh.readinto(memoryview(view).cast("B"))
            yield view if dtype == np.float32 else float_rows(view, slice(None))
            left -= rows


def halve_vectors(path: Path) -> None:
    """Rewrite a float32 .npy of vectors as float16 in place (a block at a time into a
    temporary file that then replaces it): what a codes-only IVF re-ranks with when
    `ann.ivf_vectors` asks for it. Unit vectors keep ~3 significant digits per component."""
    staged = VectorFile(path.with_name(path.name + ".f16"), dtype="<f2")
    try:
        for block in vector_blocks(path):
            staged.append(block)
        staged.close(int(np.load(path, mmap_mode="r").shape[1]))
    except BaseException:
        staged.discard()
        raise
    os.replace(staged.path, path)


def vector_rows(path: Path, rows: np.ndarray) -> np.ndarray:
    """capabilities.npy's `rows` (sorted), copied out of a map that is closed again."""
    mapped = np.load(path, mmap_mode="r")
    out = np.array(mapped[rows], dtype=np.float32)
    del mapped
    return out


class IndexWriter:
    """Writes a version folder from chunks of (artifacts, their capability vectors in row order,
    their records): `add` per chunk, then `finish`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._catalog = open(folder / CATALOG, "wb")
        self._offsets = [0]
        self._end = 0
        self._vectors = VectorFile(folder / VECTORS)
        self.columns: dict[str, list] = {"id": [], "name": [], "kind": [], "pricing": [], "task": [],
                                         "capabilities": []}
        # BM25's documents, one JSON string a line, read back when BM25 is built last (held, they
        # were ~1 KB an artifact: 2 GB at 2,000,000 beside everything else).
        self._lexical = open(folder / LEXICAL, "w", encoding="utf-8")
        self.signals: list[np.ndarray] = []  # per chunk, (artifacts, SIGNAL_COLUMNS): signals.signal_row
        self.capabilities = 0
        self._written = 0  # artifacts, once the columns are written and released

    def add(self, artifacts: list[Artifact], vectors: np.ndarray, records: list[str] | None = None) -> None:
        records = records if records is not None else dump_records(artifacts)
        count = sum(len(a.capabilities) for a in artifacts)
        if count != len(vectors):
            raise ValueError(f"{len(vectors)} vectors for {count} capabilities: one vector per capability")
        for artifact, record in zip(artifacts, records):
            line = (record + "\n").encode()
            self._catalog.write(line)
            self._end += len(line)
            self._offsets.append(self._end)
            self.columns["id"].append(artifact.id)
            self.columns["name"].append(artifact.name)
            self.columns["kind"].append(artifact.kind)
            self.columns["pricing"].append(artifact.pricing)
            self.columns["task"].append(artifact.task)
            self.columns["capabilities"].append([c.id for c in artifact.capabilities])
            self._lexical.write(json.dumps(artifact.lexical_text()) + "\n")
        self.signals.append(np.array([signal_row(a) for a in artifacts], dtype=np.float64).reshape(
            len(artifacts), len(SIGNAL_COLUMNS)))
        self._vectors.append(vectors)
        self.capabilities += count

    @property
    def artifacts(self) -> int:
        return len(self.columns.get("id", ())) if self.columns else self._written


    @property
    def dim(self) -> int | None:
        """The vectors' dimension; None before any vector came."""
        return self._vectors.dim

    def finish(self, manifest: dict, bm25: dict | None = None, ann: AnnSettings | None = None,
               ann_kind: str = "auto", dim: int | None = None) -> None:
        """Close the files, build the ANN from capabilities.npy and BM25 from the lexical texts,
        and write the manifest last (it marks the folder complete). Each part is released before
        the next starts. `dim` (else `manifest["dim"]`) is the dimension when no vector came."""
        self._catalog.close()
        count = self._written = self.artifacts
        np.save(self.folder / OFFSETS, np.asarray(self._offsets, dtype=np.int64))
        self._offsets = []
        NameIndex(self.columns["name"], self.columns["id"]).save(self.folder / NAMES)
        (self.folder / COLUMNS).write_text(json.dumps(self.columns))
        self.columns = {}
        table = np.concatenate(self.signals) if self.signals else np.zeros((0, len(SIGNAL_COLUMNS)))
        np.savez(self.folder / SIGNALS, **{name: table[:, i] for i, name in enumerate(SIGNAL_COLUMNS)})
        self.signals = []
        del table
        self._vectors.close(int(dim or manifest.get("dim") or 0))
        path, rows, dim = self._vectors.path, self._vectors.rows, self._vectors.dim
        index = create_ann_streamed(lambda: vector_blocks(path), lambda r: vector_rows(path, r),
                                    rows, dim, ann_kind, ann)
        index.save(self.folder / ANN_FILE)
        if index.codes_only and (ann or AnnSettings()).keeps_half(rows):
            halve_vectors(path)
        del index
        self._lexical.close()
        BM25Index(_Lines(self.folder / LEXICAL, rows=count), **(bm25 or {})).save(self.folder / BM25_DIR)
        (self.folder / LEXICAL).unlink()
        (self.folder / MANIFEST).write_text(json.dumps(manifest, indent=2))

    def abandon(self) -> None:
        """Close the open files (the caller removes the folder)."""
        for fh in (self._catalog, self._vectors._fh, self._lexical):  # noqa: SLF001
            if not fh.closed:
                fh.close()


class _Lines(Sequence):
    """The JSON strings of a file, one a line, read as they are iterated: BM25's documents
    (tokenized in one pass) without holding them."""

    def __init__(self, path: Path, rows: int):
        self.path, self.rows = path, rows

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[str]:
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)

    def __getitem__(self, i):
        raise TypeError("read in order only: iterate")


def dump_records(artifacts: Iterable[Artifact]) -> list[str]:
    """Each artifact as JSON, made once per index build: catalog.jsonl's lines, the store's
    record and its content hash (sha256 of this text, as Artifact.content_hash) all come from it."""
    return [a.model_dump_json() for a in artifacts]


def chunked(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_from_catalog(folder: Path, paths: list[str], limits: dict, encode: Callable[[list[str]], np.ndarray],
                       problems: list[str], chunk: int = CHUNK_ARTIFACTS) -> IndexWriter:
    """Stream the catalog under `paths` into an IndexWriter on `folder`, `chunk` artifacts at a
    time: validated (problems appended to `problems`), dumped, their capability texts turned
    into vectors by `encode` (the Embedder: cache first, the model for the rest). Once a problem
    is found the rest is only validated, so that every problem is listed; the caller raises."""
    writer = IndexWriter(folder)
    try:
        for artifacts in chunked(iter_catalog(paths, limits, problems), chunk):
            if problems:
                continue
            texts = [c.text() for a in artifacts for c in a.capabilities]
            vectors = encode(texts) if texts else np.zeros((0, 0), np.float32)
            writer.add(artifacts, vectors)
    except BaseException:
        writer.abandon()
        raise
    return writer


def index_rows(folder: Path) -> Iterator[tuple[str, str, str, str, str | None, str]]:
    """(id, name, kind, pricing, task, record) of each artifact of a written version folder, in
    catalog order, read from its columns and catalog.jsonl: what the store keeps of the catalog."""
    columns = json.loads((folder / COLUMNS).read_text())
    with open(folder / CATALOG, "rb") as fh:
        for i, line in enumerate(fh):
            yield (columns["id"][i], columns["name"][i], columns["kind"][i], columns["pricing"][i],
                   columns["task"][i], line.rstrip(b"\n").decode())

