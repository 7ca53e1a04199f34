"""Requests asked before: what people chose for the same request is the strongest evidence the
log holds, and it should reach the top whatever the catalog's texts say.

A request repeats a past one when it says the same words in the same order, up to typos
(dedup.same_words), as that past request, with the sample input cut off both (events.request_part:
"Summarize this review ###Input: <another review>" repeats the request). The past request is found
by its text (the graph's aliases) or as the nearest past request (cosine at least
MERGE_MIN_COSINE). The other history signals guess from requests that only resemble this one, so
they stay inside the relevance window (search.graph_window); this one is not a guess, so it is
added outside it (search.w_asked).

Only selects count: a match event records that an artifact was shown, and lifting what was shown
for the same request would only keep its ranking where it was.
"""

from __future__ import annotations

import numpy as np

from ..core.arrays import row_entries
from ..core.events import normalize_query, request_part
from ..graph.dedup import MERGE_MIN_COSINE, same_words
from ..graph.match_graph import MatchGraph

__all__ = ["asked_before"]

NONE = (np.zeros(0, np.int64), np.zeros(0))


def asked_before(mg: MatchGraph | None, query: str, query_vector: np.ndarray, markers: list[str],
                 nearest: tuple[int, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(positions, selects) of the artifacts people selected for the past request `query` repeats:
    catalog positions (m,) and how often each was selected (m,), at least 1. Empty when `query`
    (its vector `query_vector`, (dim,); its sample input already cut off, `markers` cut it off the
    past requests) repeats none or nothing was selected for it. `nearest` is the (row, cosine) of
    the past request nearest to `query_vector` in `mg` when the caller has looked it up already
    (row -1: none), None to look it up here."""
    if mg is None or mg.empty:
        return NONE
    text = normalize_query(query)
    rep = mg.aliases.get(text)
    if rep is None:
        if nearest is None:
            sims, ids = mg.query_ann.search(query_vector, 1)
            nearest = (int(ids[0][0]), float(sims[0][0]))
        row, cosine = nearest
        if row < 0 or cosine < MERGE_MIN_COSINE:
            return NONE
        rep = mg.queries[row]
    if not same_words(text, rep) and \
            not same_words(text, normalize_query(request_part(mg.labels.get(rep, rep), markers))):
        return NONE
    row = mg.query_pos[rep]
    positions = row_entries(mg.weights, row)[0].astype(np.int64)
    selects = np.array([mg.edges[rep, mg.index.ids[p]][1] for p in positions], dtype=np.float64)
    chosen = selects > 0
    if not chosen.any():
        return NONE
    return positions[chosen], selects[chosen]
