"""The match graph the walk starts from: past requests split into their actions.

A past request that named three actions ("create an account, then list the strategies, then the
standards") led to three artifacts. Walked whole, a new request that shares one of those actions
seeds on it and the walk, and its task level, hand mass to all three artifacts and their tasks;
the other two then take places in the ranking of an action they have nothing to do with (on
seal-tools the log lowered coverage@10, most in the cold group). Split the same way as the adapter's
log (adapter.split_log), each action of a past request keeps only the artifacts it names best, so
the walk from a new action reaches what that action led to.

Only search reads this graph; exports, scores, compare and the adapter's fit read the match graph
as it was recorded. Requests of one action, or that led to one artifact, stay whole rows under
their own key, so a log without multi-action requests gives back the match graph itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from .adapter import split_log
from .ann import create_ann
from .events import normalize_query
from .fits import past_requests
from .graph import MatchGraph
from .index import LoadedIndex


def action_graph(graph: MatchGraph, index: LoadedIndex, encode: Callable[[list[str]], np.ndarray],
                 markers: list[str]) -> MatchGraph:
    """`graph` with each multi-action past request replaced by its actions (rows of the weights,
    query ANN, aliases and edges); `encode(texts)` -> (n, dim) vectors of the actions' texts,
    `markers` as config search.input_markers. The match graph itself when nothing splits."""
    if graph.empty:
        return graph
    texts, vectors, weights, origin = split_log(index, past_requests(graph, markers), graph.query_vectors,
                                                graph.weights, encode)
    if len(texts) == len(graph.queries) and np.array_equal(origin, np.arange(len(graph.queries))):
        return graph
    whole = np.bincount(origin, minlength=len(graph.queries)) == 1
    # A row that stayed whole keeps its key (and its aliases); an action is keyed by its own text.
    keys = [graph.queries[o] if whole[o] else normalize_query(text) for text, o in zip(texts, origin)]
    edges, labels, aliases = {}, {}, {}
    coo = weights.tocoo()
    for row, col in zip(coo.row, coo.col):
        artifact_id = index.ids[col]
        edges[(keys[row], artifact_id)] = graph.edges[(graph.queries[origin[row]], artifact_id)]
    for row, (key, o) in enumerate(zip(keys, origin)):
        labels.setdefault(key, texts[row] if not whole[o] else graph.labels.get(key, key))
        aliases.setdefault(key, key)
    for alias, rep in graph.aliases.items():
        if rep in aliases and whole[graph.query_pos[rep]]:
            aliases.setdefault(alias, rep)
    return replace(graph, queries=keys, query_ann=create_ann(np.asarray(vectors, dtype=np.float32)),
                   weights=weights.tocsr().astype(np.float32), edges=edges, capability_edges={},
                   labels=labels, aliases=aliases, evidence=None)
