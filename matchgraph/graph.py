"""The match graph: which (normalized, merged) queries led to which artifacts and capabilities.

Built from counts the store aggregates (group by query, artifact), never one add_edge per raw
event. Besides the NetworkX graph it keeps what search needs for the graph signal: a FAISS
index of past-query vectors and a sparse query x artifact weight matrix for short random walks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

import networkx as nx
import numpy as np
from scipy import sparse

from .ann import ANN, create_ann
from .dedup import regroup
from .embeddings import Embedder
from .index import LoadedIndex
from .store.sql import Aggregates

log = logging.getLogger(__name__)


def qnode(query_norm: str) -> str:
    return f"q:{query_norm}"


def anode(artifact_id: str) -> str:
    return f"a:{artifact_id}"


def cnode(artifact_id: str, capability_id: str) -> str:
    return f"c:{artifact_id}#{capability_id}"


@dataclass
class Evidence:
    """What the next build starts from (incremental refresh): the un-merged counts per raw query,
    the raw query vectors, the groups and the store cursor they were read up to. Never mutated
    once built (requests may read the graph that holds it)."""

    cursor: str
    key: tuple  # (index version, select weight, merge ratio, model): another key -> full build
    raw_pos: dict[str, int]  # raw normalized query -> row of `vectors`
    vectors: np.ndarray
    raw_edges: dict[str, dict[str, tuple[int, int]]]  # raw query -> artifact (in index) -> counts
    raw_caps: dict[str, dict[tuple[str, str], int]]  # raw query -> (artifact, capability) -> matches
    texts: dict[str, str]  # raw query -> max(original text)
    members: dict[str, list[str]]  # representative -> its raw queries


@dataclass
class MatchGraph:
    """Aggregated match evidence; `queries[i]` is row i of `weights` and `query_ann`.

    Search, compare and scores read the arrays and dicts; the NetworkX graph (for export, the
    explorer and stats) is built from them on first use, so a refresh that only serves searches
    never pays for it.
    """

    index: LoadedIndex
    queries: list[str]  # representative normalized query texts
    query_ann: ANN | None
    weights: sparse.csr_matrix  # (n_queries, n_artifacts in index order)
    edges: dict[tuple[str, str], tuple[int, int]]  # (query, artifact id) -> (matches, selects)
    capability_edges: dict[tuple[str, str, str], int]  # (query, artifact id, capability id) -> matches
    labels: dict[str, str]  # query -> one original text of it
    times_matched: dict[str, int]
    selects: dict[str, int]
    select_weight: float = 3.0
    aliases: dict[str, str] = field(default_factory=dict)  # normalized query -> representative
    signature: tuple = ()
    # Task level of the walk: artifact position -> task number (-1: no task); tasks[number] = name.
    task_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tasks: list[str] = field(default_factory=list)
    evidence: Evidence | None = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not self.queries

    @cached_property
    def query_pos(self) -> dict[str, int]:
        return {q: i for i, q in enumerate(self.queries)}

    @cached_property
    def query_vectors(self) -> np.ndarray:
        """(n_queries, dim): the vector of each representative query, row i for `queries[i]`."""
        if self.evidence is None or not self.queries:
            return np.zeros((0, 0), dtype=np.float32)
        return self.evidence.vectors[[self.evidence.raw_pos[q] for q in self.queries]]

    @cached_property
    def transitions(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """(query -> artifact, artifact -> query) row-stochastic transition matrices of the walk."""
        return _row_normalize(self.weights), _row_normalize(self.weights.T.tocsr())

    @cached_property
    def weights_by_artifact(self) -> sparse.csc_matrix:
        """`weights` by column: an artifact's queries are one slice (compare, artifact pages)."""
        return self.weights.tocsc()

    @cached_property
    def queries_by_artifact(self) -> dict[str, list[tuple[str, int, int]]]:
        """artifact id -> [(query, matches, selects)] of the queries that matched it."""
        out: dict[str, list[tuple[str, int, int]]] = {}
        for (query, artifact_id), (matches, n_select) in self.edges.items():
            out.setdefault(artifact_id, []).append((query, matches, n_select))
        return out

    @cached_property
    def network(self) -> nx.DiGraph:
        """query -> artifact ("matched"), query -> capability ("matched_capability") and
        capability -> artifact ("capability_of") edges with matches, selects and weight."""
        graph = nx.DiGraph()
        for artifact in self.index.artifacts:
            graph.add_node(anode(artifact.id), type="artifact", label=artifact.name, kind=artifact.kind,
                           task=artifact.task or "", times_matched=self.times_matched.get(artifact.id, 0))
            for cap in artifact.capabilities:
                graph.add_node(cnode(artifact.id, cap.id), type="capability", label=cap.title)
                graph.add_edge(cnode(artifact.id, cap.id), anode(artifact.id), relation="capability_of",
                               matches=0, selects=0, weight=1.0)
        for query in self.queries:
            graph.add_node(qnode(query), type="query", label=self.labels.get(query, query))
        graph.add_edges_from(
            (qnode(query), anode(artifact_id),
             {"relation": "matched", "matches": matches, "selects": n_select,
              "weight": float(edge_weight(matches, n_select, self.select_weight))})
            for (query, artifact_id), (matches, n_select) in self.edges.items())
        graph.add_edges_from(
            (qnode(query), cnode(artifact_id, capability_id),
             {"relation": "matched_capability", "matches": matches, "selects": 0, "weight": float(matches)})
            for (query, artifact_id, capability_id), matches in self.capability_edges.items())
        return graph


def edge_weight(matches: int, selects: int, select_weight: float) -> float:
    """A select is also a match (what was selected was shown); it weighs `select_weight` matches."""
    return (matches - selects) + select_weight * selects


def _row_normalize(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sparse.diags(1.0 / sums) @ matrix


def build_match_graph(store, index: LoadedIndex, embedder: Embedder, config: dict,
                      progress: bool = False, previous: MatchGraph | None = None) -> MatchGraph:
    """Build the match graph for `index`'s catalog from counts the store aggregates.

    With `previous` (a graph built from the same store for the same index version and config),
    only the events stored since it was built are read and merged into copies of its counts:
    new query texts are embedded and merged against the existing ones, and only the rows of the
    query groups that changed are recomputed. The result equals a full build over all events.
    Without `previous`, or when it does not fit, everything is read (the same code, from empty).
    """
    gconf = config["graph"]
    select_weight = float(gconf["select_weight"])
    ratio = float(gconf["merge_ratio"])
    key = (index.version, select_weight, ratio, getattr(embedder, "model_name", None))
    previous, delta, signature = _continuation(store, index, previous, key)
    if previous is not None and not delta.edges:
        return replace(previous, signature=signature, evidence=replace(previous.evidence, cursor=delta.cursor))

    dim = index.vectors.shape[1]
    base = previous.evidence if previous is not None else \
        Evidence(cursor="", key=key, raw_pos={}, vectors=np.zeros((0, dim), np.float32),
                 raw_edges={}, raw_caps={}, texts={}, members={})
    old_aliases = previous.aliases if previous else {}
    # 1. Add the new counts to the raw (un-merged) counts; remember what each group gains.
    counts = _add_counts(index, delta, previous, base)
    raw_edges, raw_caps, texts, touched = counts.raw_edges, counts.raw_caps, counts.texts, counts.touched
    # 2. Embed only the new query texts; merge them against all queries (neighbours only).
    new_queries, raw_pos, vectors, members, aliases, changed, removed = _regroup_queries(
        embedder, progress, base, touched, ratio, old_aliases)
    # 3. Merged edges: add deltas for unchanged groups, recompute changed ones from raw counts.
    edges, capability_edges, touched_pairs = _merge_edges(previous, base, counts, members, aliases,
                                                          changed, removed)

    # 4. The weight matrix: keep the rows of untouched groups, rewrite the rest.
    queries = sorted(members) if (new_queries or previous is None) else previous.queries
    for rep in changed:
        for m in members[rep]:
            for artifact_id in raw_edges.get(m, ()):
                touched_pairs.add((rep, artifact_id))
    weights = _weights(index, previous, queries, edges, touched_pairs, changed | removed, select_weight)

    if previous is not None and queries is previous.queries:
        query_ann = previous.query_ann
    else:
        query_ann = create_ann(vectors[[raw_pos[q] for q in queries]]) if queries else None
    tasks, task_of = (previous.tasks, previous.task_of) if previous else task_index(index)
    evidence = Evidence(cursor=delta.cursor, key=key, raw_pos=raw_pos, vectors=vectors,
                        raw_edges=raw_edges, raw_caps=raw_caps, texts=texts, members=members)
    return MatchGraph(index=index, queries=queries, query_ann=query_ann, weights=weights,
                      edges=edges, capability_edges=capability_edges,
                      labels={q: texts.get(q, q) for q in queries}, times_matched=counts.times_matched,
                      selects=counts.selects, select_weight=select_weight, aliases=aliases,
                      signature=signature, task_of=task_of, tasks=tasks, evidence=evidence)


def _continuation(store, index: LoadedIndex, previous: MatchGraph | None, key: tuple
                  ) -> tuple[MatchGraph | None, Aggregates, tuple]:
    """(the previous graph when the build can continue from it, else None; the store's counts
    since it, or all of them; the events' signature)."""
    base = previous.evidence if previous is not None else None
    if base is None or base.key != key or previous.index is not index:
        previous, base = None, None
    signature = store.events_signature()
    if base is not None and previous.signature and signature[0] < previous.signature[0]:
        previous, base = None, None  # events were deleted: counts cannot be subtracted, rebuild
    delta = store.aggregates(since=base.cursor if base else None)
    if delta.complete:  # the store could not continue from the cursor: this is a full read
        previous, base = None, None
    return previous, delta, signature


class _Counts(NamedTuple):
    """Step 1 of a build: the raw (un-merged) counts with the delta added, and what it added."""

    times_matched: dict[str, int]
    selects: dict[str, int]
    raw_edges: dict[str, dict[str, tuple[int, int]]]  # as Evidence.raw_edges
    raw_caps: dict[str, dict[tuple[str, str], int]]  # as Evidence.raw_caps
    texts: dict[str, str]
    touched: dict[str, list[tuple[str, int, int]]]  # raw query -> [(artifact, matches, selects)]
    touched_caps: dict[str, list[tuple[tuple[str, str], int]]]  # raw query -> [((artifact, cap), matches)]


def _add_counts(index: LoadedIndex, delta: Aggregates, previous: MatchGraph | None,
                base: Evidence) -> _Counts:
    """Copies of the previous counts (copy on write: a dict is copied only when it changes, the
    previous graph is never mutated) plus the delta's."""
    times_matched = dict(previous.times_matched) if previous else {}
    selects = dict(previous.selects) if previous else {}
    raw_edges = dict(base.raw_edges)
    raw_caps = dict(base.raw_caps)
    texts = dict(base.texts)
    copied: set[str] = set()
    copied_caps: set[str] = set()

    touched: dict[str, list[tuple[str, int, int]]] = {}  # raw query -> [(artifact, matches, selects)]
    for query_norm, artifact_id, total, n_select in delta.edges:
        times_matched[artifact_id] = times_matched.get(artifact_id, 0) + total
        selects[artifact_id] = selects.get(artifact_id, 0) + n_select
        touched.setdefault(query_norm, [])
        if artifact_id not in index.position:  # removed from the catalog: its events stay stored
            continue
        if query_norm not in copied:
            raw_edges[query_norm] = dict(raw_edges.get(query_norm, {}))
            copied.add(query_norm)
        old = raw_edges[query_norm].get(artifact_id, (0, 0))
        raw_edges[query_norm][artifact_id] = (old[0] + total, old[1] + n_select)
        touched[query_norm].append((artifact_id, total, n_select))
    known_capabilities = index.capability_keys
    touched_caps: dict[str, list[tuple[tuple[str, str], int]]] = {}
    for query_norm, artifact_id, capability_id, total in delta.capabilities:
        if (artifact_id, capability_id) not in known_capabilities:
            continue
        if query_norm not in copied_caps:
            raw_caps[query_norm] = dict(raw_caps.get(query_norm, {}))
            copied_caps.add(query_norm)
        cap = (artifact_id, capability_id)
        raw_caps[query_norm][cap] = raw_caps[query_norm].get(cap, 0) + total
        touched_caps.setdefault(query_norm, []).append((cap, total))
    for query_norm, text in delta.texts.items():
        if query_norm not in texts or text > texts[query_norm]:
            texts[query_norm] = text
    return _Counts(times_matched, selects, raw_edges, raw_caps, texts, touched, touched_caps)


def _regroup_queries(embedder: Embedder, progress: bool, base: Evidence,
                     touched: dict[str, list[tuple[str, int, int]]], ratio: float,
                     old_aliases: dict[str, str]):
    """Embed the raw queries not seen before and merge them into the near-duplicate groups.
    Returns (new_queries, raw_pos, vectors, members, aliases, changed, removed), the last four as
    dedup.regroup returns them."""
    new_queries = sorted(q for q in touched if q not in base.raw_pos)
    raw_pos = dict(base.raw_pos)
    vectors = base.vectors
    if new_queries:
        new_vectors = np.asarray(embedder.encode(new_queries, progress=progress), dtype=np.float32)
        vectors = np.vstack([base.vectors, new_vectors]) if len(base.vectors) else new_vectors
        for q in new_queries:
            raw_pos[q] = len(raw_pos)
    all_queries = [None] * len(raw_pos)
    for q, i in raw_pos.items():
        all_queries[i] = q
    members, aliases, changed, removed = regroup(all_queries, vectors, raw_pos, new_queries,
                                                  ratio, base.members, old_aliases)
    return new_queries, raw_pos, vectors, members, aliases, changed, removed


def _merge_edges(previous: MatchGraph | None, base: Evidence, counts: _Counts,
                 members: dict[str, list[str]], aliases: dict[str, str], changed: set[str],
                 removed: set[str]):
    """The merged (group-level) edges: the previous ones minus removed groups, the changed groups
    recomputed from the raw counts, the other groups' gains added. Returns (edges,
    capability_edges, touched_pairs): the (group, artifact) pairs whose weight must be rewritten."""
    raw_edges, raw_caps = counts.raw_edges, counts.raw_caps
    touched, touched_caps = counts.touched, counts.touched_caps
    edges = dict(previous.edges) if previous else {}
    capability_edges = dict(previous.capability_edges) if previous else {}
    for g in removed:
        for m in base.members[g]:
            for artifact_id in raw_edges.get(m, ()):
                edges.pop((g, artifact_id), None)
            for cap in raw_caps.get(m, ()):
                capability_edges.pop((g, *cap), None)
    touched_pairs: set[tuple[str, str]] = set()
    for rep in changed:
        merged: dict[str, list[int]] = {}
        caps: dict[tuple[str, str], int] = {}
        for m in members[rep]:
            for artifact_id, (total, n_select) in raw_edges.get(m, {}).items():
                slot = merged.setdefault(artifact_id, [0, 0])
                slot[0] += total
                slot[1] += n_select
            for cap, total in raw_caps.get(m, {}).items():
                caps[cap] = caps.get(cap, 0) + total
        for artifact_id, (total, n_select) in merged.items():
            edges[(rep, artifact_id)] = (total, n_select)
        for cap, total in caps.items():
            capability_edges[(rep, *cap)] = total
    for query_norm, gains in touched.items():
        rep = aliases[query_norm]
        if rep in changed:
            continue
        for artifact_id, total, n_select in gains:
            old = edges.get((rep, artifact_id), (0, 0))
            edges[(rep, artifact_id)] = (old[0] + total, old[1] + n_select)
            touched_pairs.add((rep, artifact_id))
        for cap, total in touched_caps.get(query_norm, ()):
            capability_edges[(rep, *cap)] = capability_edges.get((rep, *cap), 0) + total
    return edges, capability_edges, touched_pairs


def _weights(index: LoadedIndex, previous: MatchGraph | None, queries: list[str],
             edges: dict[tuple[str, str], tuple[int, int]], touched_pairs: set[tuple[str, str]],
             dropped: set[str], select_weight: float) -> sparse.csr_matrix:
    """The (n_queries, n_artifacts) weight matrix: the previous rows of groups not in `dropped`,
    minus the `touched_pairs`, plus those pairs' weights recomputed from `edges`."""
    qpos = {q: i for i, q in enumerate(queries)}
    n_art = len(index.artifacts)
    if previous is not None and previous.weights.nnz:
        old = previous.weights.tocoo()
        old_to_new = np.array([qpos.get(q, -1) for q in previous.queries], dtype=np.int64)
        drop_rows = np.zeros(len(previous.queries), dtype=bool)
        for rep in dropped:
            if rep in previous.query_pos:
                drop_rows[previous.query_pos[rep]] = True
        keep = ~drop_rows[old.row]
        rows_kept, cols_kept, data_kept = old_to_new[old.row[keep]], old.col[keep], old.data[keep]
        if touched_pairs:
            touched_keys = np.array([qpos[q] * n_art + index.position[a] for q, a in touched_pairs],
                                    dtype=np.int64)
            keep = ~np.isin(rows_kept * n_art + cols_kept, touched_keys)
            rows_kept, cols_kept, data_kept = rows_kept[keep], cols_kept[keep], data_kept[keep]
    else:
        rows_kept = cols_kept = np.zeros(0, dtype=np.int64)
        data_kept = np.zeros(0, dtype=np.float32)
    rows, cols, data = [], [], []
    for rep, artifact_id in touched_pairs:
        total, n_select = edges[(rep, artifact_id)]
        rows.append(qpos[rep])
        cols.append(index.position[artifact_id])
        data.append(edge_weight(total, n_select, select_weight))
    return sparse.csr_matrix(
        (np.concatenate([data_kept, np.array(data, dtype=np.float32)]),
         (np.concatenate([rows_kept, np.array(rows, dtype=np.int64)]),
          np.concatenate([cols_kept, np.array(cols, dtype=np.int64)]))),
        shape=(len(queries), n_art), dtype=np.float32)


def task_index(index: LoadedIndex) -> tuple[list[str], np.ndarray]:
    """Task names (lower-cased, sorted) and each artifact's task number (-1 when it has none)."""
    return sorted(index.task_codes, key=index.task_codes.get), index.task_of.astype(np.int64)
