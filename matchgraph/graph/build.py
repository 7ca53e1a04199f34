"""Building the match graph (graph.MatchGraph) from the counts the store aggregates: in full, or
from a previous graph by merging only the events stored since it (a server's refresh).

A build runs in named steps: `_continuation` (can the previous graph be continued?),
`_add_counts` (the raw, un-merged counts plus the new ones), `_regroup_queries` (embed new query
texts, merge near-duplicates), `_merge_edges` (the group-level edges) and `_weights` (the sparse
query x artifact matrix, rewriting only the rows that changed); the past-query index is refilled
with the previous one's trained IVF lists (ann.refill_ann).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
from scipy import sparse

from ..retrieval.ann import refill_ann
from ..retrieval.embeddings import Embedder
from ..retrieval.index import LoadedIndex
from ..store.sql import Aggregates
from .dedup import regroup
from .match_graph import Evidence, MatchGraph, edge_weight


def build_match_graph(store, index: LoadedIndex, embedder: Embedder, config: dict,
                      progress: bool = False, previous: MatchGraph | None = None) -> MatchGraph:
    """Build the match graph for `index`'s catalog from counts the store aggregates.

    With `previous` (a graph built from the same store for the same index version and config),
    only the events stored since it was built are read and merged into copies of its counts:
    new query texts are embedded and merged against the existing ones, and only the rows of the
    query groups that changed are recomputed. The result equals a full build over all events,
    except that a past-query IVF index keeps the lists the previous one was trained with.
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
        rows = vectors[[raw_pos[q] for q in queries]]
        query_ann = refill_ann(rows, previous.query_ann if previous else None) if queries else None
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
    raw_caps: dict[str, dict[tuple[str, str], tuple[int, int]]]  # as Evidence.raw_caps
    texts: dict[str, str]
    touched: dict[str, list[tuple[str, int, int]]]  # raw query -> [(artifact, matches, selects)]
    touched_caps: dict[str, list[tuple[tuple[str, str], int, int]]]  # raw query -> [((artifact, cap), matches, selects)]


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
    touched_caps: dict[str, list[tuple[tuple[str, str], int, int]]] = {}
    for query_norm, artifact_id, capability_id, total, n_select in delta.capabilities:
        if (artifact_id, capability_id) not in known_capabilities:
            continue
        if query_norm not in copied_caps:
            raw_caps[query_norm] = dict(raw_caps.get(query_norm, {}))
            copied_caps.add(query_norm)
        cap = (artifact_id, capability_id)
        old = raw_caps[query_norm].get(cap, (0, 0))
        raw_caps[query_norm][cap] = (old[0] + total, old[1] + n_select)
        touched_caps.setdefault(query_norm, []).append((cap, total, n_select))
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
        caps: dict[tuple[str, str], tuple[int, int]] = {}
        for m in members[rep]:
            for artifact_id, (total, n_select) in raw_edges.get(m, {}).items():
                slot = merged.setdefault(artifact_id, [0, 0])
                slot[0] += total
                slot[1] += n_select
            for cap, (total, n_select) in raw_caps.get(m, {}).items():
                old = caps.get(cap, (0, 0))
                caps[cap] = (old[0] + total, old[1] + n_select)
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
        for cap, total, n_select in touched_caps.get(query_norm, ()):
            old = capability_edges.get((rep, *cap), (0, 0))
            capability_edges[(rep, *cap)] = (old[0] + total, old[1] + n_select)
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
