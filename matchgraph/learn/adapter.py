"""Learned from use: a query adapter and capability offsets fitted to the match graph.

The search log says which artifacts past requests led to. Two things are learned from it, jointly,
by a softmax over the catalog (each past query's target: its row of the match-graph weights):

- `projection` (dim, dim): adapted query = normalize(q + q @ projection). It learns how requests
  are worded for each kind of artifact ("transcribe" is speech recognition, not text-to-speech);
  it helps requests for artifacts nobody asked for yet as much as for known ones.
- `offsets` (rows, dim) for the capabilities of artifacts in the log only: capability vector +
  offset, renormalized (Tool2Vec-style: the artifact moves towards the requests that led to it).
  This is the artifact-level history; search weighs it by relevance like the walk (search/artifacts.py).

Both start at zero (the plain cosine) and are held near it by L2 penalties, so a small log moves
them little. The fit is full-batch Adam on the CPU with a fixed number of steps, deterministic for
the same graph; past `adapter_max_queries` the queries with the most weight are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from ..core.arrays import row_entries
from ..retrieval import needs
from ..retrieval.ann import float_rows, row_dots
from ..retrieval.embeddings import encode_with
from ..retrieval.index import LoadedIndex
from ..retrieval.needs import split_needs

# In every fit key (fit_key): a fit on the split log is only as current as the splitter's code.
_SPLITTER = hashlib.sha256(Path(needs.__file__).read_bytes()).hexdigest()


@dataclass(frozen=True)
class Adapter:
    """One fit: the query projection and the offsets of the logged artifacts' capabilities."""

    projection: np.ndarray  # (dim, dim) float32
    rows: np.ndarray  # capability rows that have an offset (artifacts in the log), sorted
    offsets: np.ndarray  # (len(rows), dim) float32

    def save(self, path: Path) -> None:
        """Write atomically (a temporary renamed into place): its presence marks a complete fit."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"projection": self.projection, "rows": self.rows, "offsets": self.offsets}
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".partial",
                                         delete=False) as f:
            np.savez(f, **arrays)
        os.replace(f.name, path)

    @classmethod
    def load(cls, path: Path) -> "Adapter":
        """Raises OSError/ValueError/KeyError when the fit is incomplete or damaged."""
        with np.load(path) as data:
            return cls(projection=data["projection"], rows=data["rows"], offsets=data["offsets"])

    def scores(self, index: LoadedIndex, query_vector: np.ndarray, positions=None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(general, personal), each (n_artifacts,) or, with `positions`, (len(positions),) for those
        artifacts only: the best capability cosine of the adapted query against the catalog's
        vectors, and against the vectors moved by the offsets. `query_vector` (dim,) is the
        model's vector of the request. Artifacts without capabilities get 0."""
        vectors, adapted = index.vectors, self._adapted(query_vector)
        positions = np.arange(len(index.cap_count)) if positions is None else np.asarray(positions, np.int64)
        counts = index.cap_count[positions]
        starts = index.cap_start[positions]
        rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        sims = row_dots(vectors, rows, adapted)  # in place: a gathered copy cost ~1.8 ms a search at 100k
        general = _best_per_artifact(counts, sims)
        moved = sims.copy()
        if len(self.rows) and len(rows):
            at = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
            hit = self.rows[at] == rows
            moved[hit] = _normalize(float_rows(vectors, rows[hit]) + self.offsets[at[hit]]) @ adapted
        return general, _best_per_artifact(counts, moved)


    def _adapted(self, query_vector: np.ndarray) -> np.ndarray:
        """The adapted query: normalize(q + q @ projection)."""
        return _normalize(query_vector[None, :] + query_vector[None, :] @ self.projection)[0]

    def row_scores(self, index: LoadedIndex, query_vector: np.ndarray, rows: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(general, personal) for single capability rows: the adapted query's cosine with each
        row's vector (row_cosines), and with it moved by its offset (rows without one: the same)."""
        vectors, adapted = index.vectors, self._adapted(query_vector)
        rows = np.asarray(rows, dtype=np.int64)
        general = row_dots(vectors, rows, adapted)
        moved = general.copy()
        if len(self.rows) and len(rows):
            at = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
            hit = self.rows[at] == rows
            moved[hit] = _normalize(float_rows(vectors, rows[hit]) + self.offsets[at[hit]]) @ adapted
        return general, moved

    def row_cosines(self, index: LoadedIndex, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The adapted query's cosine with each capability row's vector (tool-level search, which
        uses no offsets: row_scores' second half is not computed)."""
        return row_dots(index.vectors, np.asarray(rows, dtype=np.int64), self._adapted(query_vector))


def learn(index: LoadedIndex, texts: list[str], query_vectors: np.ndarray,
          weights: sparse.csr_matrix, conf: dict, model, encode=None,
          chosen: dict[tuple[int, int], int] | None = None) -> Adapter | None:
    """Everything learned from the log: projection and offsets (fit_adapter) on the log, split
    into actions with `adapter_split_needs`.

    `texts[i]` is past query i's request text, `query_vectors` (n_queries, dim) the base model's
    vectors of them, `weights` (n_queries, n_artifacts) their match-graph rows; `conf` is config
    `search`; `encode(texts)` -> (n, dim) base-model vectors of the requests' parts (default: `model`
    uncached; the engine passes its cached embedder). `chosen` (tool_choices): (past query row,
    artifact position) -> the capability row people selected for it. None as for fit_adapter.
    """
    keep = fitted_rows(weights, conf["adapter_max_queries"])
    if not len(keep) or not len(index.vectors) or conf["adapter_steps"] <= 0:
        return None
    texts, query_vectors, weights = [texts[i] for i in keep], query_vectors[keep], weights[keep]
    origin = np.arange(len(keep))
    if conf["adapter_split_needs"]:
        texts, query_vectors, weights, origin = split_log(
            index, texts, query_vectors, weights, encode or (lambda parts: encode_with(model, parts)))
    return fit_adapter(index, query_vectors, weights, conf, chosen=_local_choices(chosen, keep[origin]))


def split_log(index: LoadedIndex, texts: list[str], query_vectors: np.ndarray, weights: sparse.csr_matrix,
              encode) -> tuple[list[str], np.ndarray, sparse.csr_matrix, np.ndarray]:
    """The log with each multi-need request replaced by its parts (needs.split_needs), each part
    holding the artifacts of the request it names best.

    A past request that named three actions led to three artifacts; fitted whole, it teaches the
    projection that requests worded like it lead to all three, and moves each artifact's offset
    towards the other two actions' words too. A new request sharing one action with it is then
    pulled towards the other two (seal-tools: the log lowered MRR@10). Each (request, artifact)
    weight goes to the part whose vector is closest to the artifact's best capability; parts that
    get none are dropped. `encode(texts)` -> (n, dim) vectors of the parts. Requests of one part,
    or that led to one artifact, stay as they are. Shapes as for learn(); the fourth value is
    each output row's row in the input (n_out,)."""
    rows = weights.tocsr()
    splits = {i: parts for i, text in enumerate(texts)
              if rows.indptr[i + 1] - rows.indptr[i] > 1 and len(parts := split_needs(text)) > 1}
    if not splits:
        return texts, query_vectors, weights, np.arange(len(texts))
    flat = [part for parts in splits.values() for part in parts]
    part_vectors = encode(flat)
    out_texts, out_vectors, out_rows, out_cols, out_data, origin = [], [], [], [], [], []
    start = 0
    for i in range(len(texts)):
        cols, data = row_entries(rows, i)
        if i not in splits:
            out_texts.append(texts[i])
            out_vectors.append(query_vectors[i])
            origin.append(i)
            out_rows += [len(out_texts) - 1] * len(cols)
            out_cols += list(cols)
            out_data += list(data)
            continue
        vectors = part_vectors[start:start + len(splits[i])]
        start += len(splits[i])
        owner = {}  # part -> [(artifact, weight)]
        for col, w in zip(cols, data):
            caps = index.vectors[index.cap_start[col]:index.cap_start[col] + index.cap_count[col]]
            if not len(caps):
                continue
            owner.setdefault(int(np.argmax((vectors @ caps.T).max(axis=1))), []).append((col, w))
        for part, pairs in sorted(owner.items()):
            out_texts.append(splits[i][part])
            out_vectors.append(vectors[part])
            origin.append(i)
            out_rows += [len(out_texts) - 1] * len(pairs)
            out_cols += [c for c, _ in pairs]
            out_data += [w for _, w in pairs]
    matrix = sparse.csr_matrix((out_data, (out_rows, out_cols)), shape=(len(out_texts), weights.shape[1]))
    return out_texts, np.asarray(out_vectors, dtype=np.float32), matrix, np.asarray(origin, np.int64)


def fitted_rows(weights: sparse.csr_matrix, max_queries: int) -> np.ndarray:
    """Sorted rows of `weights` a fit uses: those with weight, at most max_queries of the heaviest."""
    keep = np.nonzero(np.asarray(weights.sum(axis=1)).ravel() > 0)[0]
    if len(keep) > max_queries:
        totals = np.asarray(weights[keep].sum(axis=1)).ravel()
        keep = np.sort(keep[np.argsort(-totals, kind="stable")[:max_queries]])
    return keep


def _local_choices(chosen: dict[tuple[int, int], int] | None, rows: np.ndarray) -> dict[tuple[int, int], int]:
    """`chosen` keyed by the fit's own query rows: row i of the fit is past query rows[i]."""
    if not chosen:
        return {}
    by_query: dict[int, list[int]] = {}
    for i, q in enumerate(rows.tolist()):
        by_query.setdefault(q, []).append(i)
    return {(i, a): cap for (q, a), cap in chosen.items() for i in by_query.get(q, ())}


def tool_choices(graph, index: LoadedIndex) -> dict[tuple[int, int], int]:
    """(past query row, artifact position) -> the capability row selected most for it, from the
    graph's query -> capability select counts (record_selection's `tool`, the gateway's calls)."""
    best: dict[tuple[int, int], tuple[int, int]] = {}
    for (query, artifact_id, capability_id), (_matches, n_select) in graph.capability_edges.items():
        pos = index.position.get(artifact_id)
        q = graph.query_pos.get(query)
        if n_select <= 0 or pos is None or q is None or capability_id not in index.cap_ids[pos]:
            continue
        row = int(index.cap_start[pos]) + index.cap_ids[pos].index(capability_id)
        if n_select > best.get((q, pos), (0, -1))[0]:
            best[(q, pos)] = (n_select, row)
    return {key: row for key, (_n, row) in sorted(best.items())}


def fit_adapter(index: LoadedIndex, query_vectors: np.ndarray, weights: sparse.csr_matrix,
                conf: dict, chosen: dict[tuple[int, int], int] | None = None) -> Adapter | None:
    """Fit on past queries (n_queries, dim) and their match-graph rows (n_queries, n_artifacts),
    against the index's capability vectors.

    `conf` is config `search` (the adapter_* keys). None when the log is empty, the catalog has
    no capabilities or adapter_steps is 0. Cost per step ~ queries x capabilities in the softmax,
    both capped: adapter_max_queries (those with the most weight) and adapter_max_capabilities
    (past it, the softmax runs over the logged artifacts' capabilities and each query's nearest
    ones: the negatives that shape it).
    """
    import torch  # torch comes with sentence-transformers; imported here, only when fitting

    vectors = index.vectors
    keep = fitted_rows(weights, conf["adapter_max_queries"])
    if not len(keep) or not len(vectors) or conf["adapter_steps"] <= 0:
        return None
    targets = weights[keep].tocoo()
    queries_np = np.ascontiguousarray(query_vectors[keep], dtype=np.float32)
    logged = np.unique(targets.col)
    rows = np.concatenate([np.arange(index.cap_start[a], index.cap_start[a] + index.cap_count[a])
                           for a in logged]).astype(np.int64)
    # Each (query, artifact) weight goes to the capability people selected for it (`chosen`: a
    # tool named by the selection), else to the artifact's capability closest to the query: the
    # softmax runs over capabilities (no per-artifact max in the loop, half the cost).
    best = np.empty(len(targets.data), dtype=np.int64)
    chosen = chosen or {}
    for i, (q, a) in enumerate(zip(targets.row, targets.col)):
        named = chosen.get((int(keep[q]), int(a)))
        if named is not None:
            best[i] = named
            continue
        start = index.cap_start[a]
        best[i] = start + int(np.argmax(vectors[start:start + index.cap_count[a]] @ queries_np[q]))
    if len(rows) > conf["adapter_max_capabilities"]:
        # A log that reaches more capabilities than the softmax budget (a large directory): only
        # the capabilities its weight goes to get an offset, so a step costs queries x those
        # rows, not queries x every capability of every artifact the log touched.
        rows = np.unique(best)
    t_row, t_data = targets.row, targets.data
    if len(rows) > conf["adapter_max_capabilities"]:
        # Still over the budget (a log spread over more capabilities than the softmax holds: 1M
        # artifacts, 500,000 events): the rows with the most weight stay, the rest of the weight
        # and the queries left with none are not fitted. Unbounded, one fit ran past 18 minutes.
        mass = np.bincount(np.searchsorted(rows, best), weights=t_data, minlength=len(rows))
        rows = np.sort(rows[np.argsort(-mass, kind="stable")[:conf["adapter_max_capabilities"]]])
        kept = np.isin(best, rows)
        t_row, t_data, best = t_row[kept], t_data[kept], best[kept]
        fitted, t_row = np.unique(t_row, return_inverse=True)
        queries_np = queries_np[fitted]
    softmax_rows = _softmax_rows(index, queries_np, rows, conf["adapter_max_capabilities"])
    target = np.zeros((len(queries_np), len(softmax_rows)), dtype=np.float32)
    np.add.at(target, (t_row, np.searchsorted(softmax_rows, best)), t_data)
    target /= target.sum(axis=1, keepdims=True)

    torch.manual_seed(0)
    queries = torch.from_numpy(queries_np)
    target_t = torch.from_numpy(target)
    caps = torch.from_numpy(np.ascontiguousarray(vectors[softmax_rows], dtype=np.float32))
    moved_at = torch.from_numpy(np.searchsorted(softmax_rows, rows))
    dim = caps.shape[1]
    projection = torch.zeros(dim, dim, requires_grad=True)
    offsets = torch.zeros(len(rows), dim, requires_grad=True)
    optimizer = torch.optim.Adam([projection, offsets], lr=conf["adapter_lr"])
    for _ in range(int(conf["adapter_steps"])):
        optimizer.zero_grad()
        adapted = torch.nn.functional.normalize(queries + queries @ projection, dim=1)
        moved = torch.nn.functional.normalize(caps.index_add(0, moved_at, offsets), dim=1)
        logits = adapted @ moved.T / conf["adapter_temperature"]
        loss = torch.nn.functional.cross_entropy(logits, target_t)
        loss = loss + conf["adapter_projection_l2"] * projection.square().sum() \
            + conf["adapter_offset_l2"] * offsets.square().sum()
        loss.backward()
        optimizer.step()
    return Adapter(projection=projection.detach().numpy(), rows=rows,
                   offsets=offsets.detach().numpy())


def _softmax_rows(index: LoadedIndex, queries: np.ndarray, logged_rows: np.ndarray,
                  budget: int) -> np.ndarray:
    """Sorted capability rows the fit's softmax runs over: all of them within `budget`, else the
    logged artifacts' rows plus each query's nearest rows until the budget is spent."""
    n = len(index.vectors)
    if n <= budget:
        return np.arange(n, dtype=np.int64)
    per_query = max(1, (budget - len(logged_rows)) // len(queries))
    _, nearest = index.ann.search(queries, per_query)
    return np.union1d(logged_rows, nearest[nearest >= 0]).astype(np.int64)


def fit_key(index: LoadedIndex, texts: list[str], query_vectors: np.ndarray,
            weights: sparse.csr_matrix, conf: dict, chosen: dict | None = None) -> str:
    """Content address of a fit: the same catalog version, log and settings give the same adapter,
    so a fit can be stored once and reused (each CLI command builds its state anew). A split log's
    fit also depends on the splitter: its source is in the key, so a new splitter makes a new fit
    (splitting every past request to key it would cost seconds per load at 100,000 of them)."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in sorted(conf.items())
                if k.startswith("adapter_") and k != "adapter_refit_seconds"}  # when, not what
    splitter = _SPLITTER if conf["adapter_split_needs"] else ""
    digest.update(json.dumps([index.version, index.manifest.get("model"), settings, texts, splitter]).encode())
    if chosen:  # the tools selected: the same log naming other tools fits other offsets
        digest.update(json.dumps(sorted((q, a, c) for (q, a), c in chosen.items())).encode())
    for array in (query_vectors, weights.data, weights.indices, weights.indptr):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:32]


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _best_per_artifact(counts: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """Best of each artifact's consecutive run of `counts` rows of `sims`; 0 for none."""
    out = np.zeros(len(counts), dtype=np.float32)
    has = counts > 0
    if has.any():
        out[has] = np.maximum.reduceat(sims, (np.cumsum(counts) - counts)[has])
    return out
