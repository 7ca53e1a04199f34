"""What tool-level search reads beside the artifact index: each capability row's kind, a BM25
over the callable units' own texts and how generic each unit's vector is.

Built once per loaded index version (`LoadedIndex.tools`, on first use) from its records: a
capability's kind (catalog.capability_kind: tool, operation, server, prompt, resource, or none
for a model's capability) and, for every row that has a kind, one BM25 document made of its
server's name, its tool name in words, its title, its description and its argument names. The
artifact BM25 (retrieval/lexical.py) cannot rank two tools of one server apart: it has one document per
artifact.

BM25 is normalized by the query's ceiling (`ceiling`): the sum over the query's terms of the best
score any document gets for that term. A document that shares one stray word of a long request
("24" in "add 17.5 and 24.25") then gets that word's share of the request, not the full weight a
division by the best document's score would give it.

`generic[row]` is the cosine of a unit's vector with the centroid of all units' vectors. Sentence
vectors crowd into a narrow cone, and a unit with a broad text (a registry server that lists a
dozen features) sits near its middle: near every need, it comes first for needs it does not serve
("hubness"). search/tools.py subtracts tools.w_generic times it from the cosine (centering).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from ..core.catalog import CAPABILITY_KINDS, Capability, capability_kind, split_identifier
from .lexical import BM25Index, _query_tokens

NO_KIND = -1


@dataclass
class ToolIndex:
    """`kind_of[row]`: the kind code (index into CAPABILITY_KINDS, NO_KIND for none) of every
    capability row; `rows`: the rows with a kind, ascending, document i of `bm25` being rows[i]."""

    kind_of: np.ndarray  # (n_capabilities,) int8
    rows: np.ndarray  # (n_tools,) int64
    bm25: BM25Index
    token_max: np.ndarray  # (vocabulary,) best document score of each BM25 term
    generic: np.ndarray  # (n_capabilities,) float32 cosine with the units' centroid (0: no kind)

    def codes(self, kinds) -> np.ndarray:
        """The kind codes of `kinds` (names of CAPABILITY_KINDS)."""
        return np.array([CAPABILITY_KINDS.index(k) for k in kinds], dtype=np.int8)

    def lexical(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(capability rows, BM25 / the query's ceiling in 0..1) of the best k tool documents."""
        docs, scores = self.bm25.top(query, k)
        if not len(docs):
            return np.zeros(0, np.int64), np.zeros(0)
        return self.rows[docs], scores / max(self.ceiling(query), 1e-9)

    def ceiling(self, query: str) -> float:
        """Sum over the query's BM25 terms (as bm25s scores them: repeats count) of each term's
        best score in any document: what a document holding every term at its best would get."""
        retriever = self.bm25.retriever
        if self.bm25.size == 0:
            return 0.0
        ids = [retriever.vocab_dict[t] for t in _query_tokens(query) if t in retriever.vocab_dict]
        return float(self.token_max[ids].sum()) if ids else 0.0


def tool_text(server: str, capability) -> str:
    """The BM25 document of one callable unit."""
    name = capability.tool.name if capability.tool is not None else capability.id
    return " ".join(p for p in (server, split_identifier(name), capability.title, capability.description,
                                " ".join(split_identifier(i) for i in capability.inputs)) if p)


class _CallableFields(TypedDict, total=False):
    capabilities: list[dict[str, Any]]


# A catalog.jsonl line read for its capabilities only (the line was validated when it was written):
# the other fields are skipped unparsed, a third of the cost of a whole Artifact.
_CAPABILITIES = TypeAdapter(_CallableFields)


def _capabilities(index) -> Iterator[tuple[int, list[Capability]]]:
    """(position, capabilities) of every artifact, in catalog order."""
    records = index.artifacts
    if records.path is None:  # a version written before catalog.jsonl: held in memory
        for pos, artifact in enumerate(records):
            yield pos, artifact.capabilities
        return
    with open(records.path, "rb") as fh:
        for pos, line in enumerate(fh):
            yield pos, [Capability.model_validate(c) for c in _CAPABILITIES.validate_json(line)["capabilities"]]


def build_tool_index(index, bm25: dict | None = None) -> ToolIndex:
    """The ToolIndex of a LoadedIndex (every record's capabilities read once, streamed)."""
    kind_of = np.full(len(index.cap_owner), NO_KIND, dtype=np.int8)
    rows, texts = [], []
    for pos, capabilities in _capabilities(index):
        start, task = int(index.cap_start[pos]), index.tasks[pos]
        for j, capability in enumerate(capabilities):
            kind = capability_kind(capability, task)
            if kind is None:
                continue
            kind_of[start + j] = CAPABILITY_KINDS.index(kind)
            rows.append(start + j)
            texts.append(tool_text(index.names[pos], capability))
    lexical = BM25Index(texts, **(bm25 or {}))
    rows = np.array(rows, dtype=np.int64)
    return ToolIndex(kind_of, rows, lexical, _token_max(lexical), centroid_cosines(index.vectors, rows, index.cap_owner))


def centroid_cosines(vectors: np.ndarray, rows: np.ndarray, owners: np.ndarray | None = None,
                     chunk: int = 65536) -> np.ndarray:
    """(len(vectors),) float32: each of `rows`' vectors' cosine with the normalized mean of them
    (0 elsewhere); read in chunks, so 100k tools never gather one copy of all their vectors.

    With `owners` (each row's artifact, LoadedIndex.cap_owner) every artifact weighs the same in
    the mean, however many tools it has: otherwise, in a gateway's handful of servers, the one
    with the most (and most alike) tools would make the middle its own, and its tools would be
    pushed down as "generic" for the very needs they serve."""
    out = np.zeros(len(vectors), np.float32)
    if not len(rows):
        return out
    weights = np.ones(len(rows), np.float64)
    if owners is not None:
        owner = np.asarray(owners)[rows]
        weights = 1.0 / np.bincount(owner)[owner]
    total = np.zeros(vectors.shape[1], np.float64)
    for start in range(0, len(rows), chunk):
        part = slice(start, start + chunk)
        total += weights[part] @ np.asarray(vectors[rows[part]], np.float64)
    norm = np.linalg.norm(total)
    if norm == 0:
        return out
    centroid = (total / norm).astype(np.float32)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        out[part] = np.asarray(vectors[part], np.float32) @ centroid
    return out


def _token_max(bm25: BM25Index) -> np.ndarray:
    """Each term's best document score, from bm25s's term-major score matrix."""
    if bm25.size == 0:
        return np.zeros(0, np.float32)
    scores = bm25.retriever.scores
    data, indptr = np.asarray(scores["data"]), np.asarray(scores["indptr"])
    out = np.zeros(len(indptr) - 1, np.float32)
    has = indptr[1:] > indptr[:-1]
    if has.any():
        out[has] = np.maximum.reduceat(data, indptr[:-1][has])
    return out
