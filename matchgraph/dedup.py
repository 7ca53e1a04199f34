"""Near-duplicate queries: "stable difusion" and "stable diffusion" are one node of the match graph.

Two queries merge when their vectors are close and their texts near-identical; groups are the
connected components (union-find). Used by graph_build.build_match_graph, full and incremental.
"""

from __future__ import annotations

import faiss
import numpy as np
from rapidfuzz import fuzz, process

MERGE_MIN_COSINE = 0.5  # candidate pairs for the near-duplicate test (typos drop cosine to ~0.6)
# The nearest this many queries above MERGE_MIN_COSINE are a query's candidates. All pairs above
# the cosine, as a range search returned them, grow with the square of the log's distinct
# requests: 47,558 of them (1M artifacts, 500,000 events) held more than 8 GB of results at once.
MAX_CANDIDATES = 1000
BATCH = 512  # queries searched at a time: their candidates are what a build holds at once


def _find(parent: dict, x):
    root = x
    while parent.get(root, root) != root:
        root = parent[root]
    while x != root:  # path compression
        parent[x], x = root, parent[x]
    return root


def near_pairs(queries: list[str], vectors: np.ndarray, targets: list[int], ratio: float,
               min_cosine: float = MERGE_MIN_COSINE) -> list[tuple[int, int]]:
    """Pairs (i, j) with i in `targets`, j any other position, that are near-duplicates: cosine of
    the vectors >= min_cosine and rapidfuzz ratio of the texts >= ratio.

    The test depends on the two queries only (not on which others exist), so adding queries never
    splits a group: an incremental build merges new queries against the existing ones and gets
    the groups a full build gets. Candidates are each target's MAX_CANDIDATES nearest neighbours
    above the cosine (FAISS, BATCH targets at a time; never all pairs): where more than that many
    queries sit nearer to a query than its near-duplicate, the pair is not tested. The cosine is
    then recomputed in float64 so both directions agree exactly.
    """
    if not targets or len(queries) < 2:
        return []
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    lengths = np.array([len(q) for q in queries])
    k = min(MAX_CANDIDATES + 1, len(queries))  # + 1: the target finds itself
    pairs = []
    for start in range(0, len(targets), BATCH):
        batch = targets[start:start + BATCH]
        scores, ids = index.search(np.ascontiguousarray(vectors[batch], dtype=np.float32), k)
        for i, row_scores, row_ids in zip(batch, scores, ids):
            pairs.extend(_near_of(i, row_ids[row_scores >= min_cosine - 1e-3], queries, vectors,
                                  lengths, ratio, min_cosine))
    return pairs


def _near_of(i: int, cands: np.ndarray, queries: list[str], vectors: np.ndarray, lengths: np.ndarray,
             ratio: float, min_cosine: float) -> list[tuple[int, int]]:
    """The pairs (i, j) among i's candidates j that pass the near-duplicate test."""
    cands = cands[cands != i]
    # ratio = 200 * matching / (len_i + len_j) <= 200 * min / (len_i + len_j): a cheap bound
    li, lj = lengths[i], lengths[cands]
    cands = cands[200.0 * np.minimum(li, lj) >= ratio * (li + lj) - 1e-9]
    if not len(cands):
        return []
    close = process.extract(queries[i], [queries[j] for j in cands], scorer=fuzz.ratio,
                            score_cutoff=ratio, limit=None)
    vi = vectors[i].astype(np.float64)
    return [(i, int(cands[k])) for _, _, k in close
            if float(np.sum(vi * vectors[int(cands[k])].astype(np.float64))) >= min_cosine]


def merge_near_duplicates(queries: list[str], vectors: np.ndarray, ratio: float) -> list[int]:
    """Map each of the distinct `queries` to the position of its group's representative (its
    alphabetically first text): the groups a full build makes (`regroup` from no groups)."""
    positions = {q: i for i, q in enumerate(queries)}
    _, aliases, _, _ = regroup(queries, vectors, positions, list(queries), ratio, {}, {})
    return [positions[aliases[q]] for q in queries]


def regroup(all_queries: list[str], vectors: np.ndarray, raw_pos: dict[str, int],
            new_queries: list[str], ratio: float, old_members: dict[str, list[str]],
            old_aliases: dict[str, str]
            ) -> tuple[dict[str, list[str]], dict[str, str], set[str], set[str]]:
    """Merge the new queries into the existing near-duplicate groups.

    Returns (members, aliases, changed, removed): representative -> its raw queries, raw query ->
    representative, the representatives whose members changed, and old representatives that no
    longer are one (their group joined another). A group's representative is its first member.
    """
    parent: dict[str, str] = {}  # union-find over group keys: old representatives and new queries
    for i, j in near_pairs(all_queries, vectors, [raw_pos[q] for q in new_queries], ratio):
        gi = old_aliases.get(all_queries[i], all_queries[i])
        gj = old_aliases.get(all_queries[j], all_queries[j])
        ri, rj = _find(parent, gi), _find(parent, gj)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    components: dict[str, set[str]] = {}  # root -> group keys merged into it (new queries, old groups)
    for g in {*new_queries, *parent, *parent.values()}:
        components.setdefault(_find(parent, g), set()).add(g)
    members = dict(old_members)
    aliases = dict(old_aliases)
    changed: set[str] = set()
    removed: set[str] = set()
    for keys in components.values():
        group = sorted({m for g in keys for m in (old_members.get(g) or [g])})
        rep = group[0]
        for g in keys:
            if g in old_members and g != rep:
                removed.add(g)
                del members[g]
        members[rep] = group
        for m in group:
            aliases[m] = rep
        changed.add(rep)
    return members, aliases, changed, removed
