"""Near-duplicate queries: "stable difusion" and "stable diffusion" are one node of the match graph.

Two queries merge when their vectors are close and their texts near-identical: within
graph.merge_ratio of each other and the same words in the same order up to typos (`same_words`).
The ratio alone lets a long request absorb one with another word in it ("... from English into
German" is within 92 of "... into French"), or two requests that paste the same long sample.
Groups are the connected components (union-find). Used by graph_build.build_match_graph, full and
incremental, and by search/asked.py.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process

MERGE_MIN_COSINE = 0.5  # candidate pairs for the near-duplicate test (typos drop cosine to ~0.6)
# A query's candidates are its MAX_CANDIDATES nearest above the cosine. All pairs above it, as
# one range search returned them, grow with the square of the log's distinct requests: the
# bench's requests nearly all lie within cosine 0.5 of each other, and the pairs took 1.3 GB at
# 100,000 artifacts (the peak of a server's first load) and over 18 GB at 1M (47,558 requests).
MAX_CANDIDATES = 1000
PAIR_BUDGET = 4_000_000  # cosines held at once: targets are compared in chunks of this // queries
TYPO_RATIO = 80  # "episod"/"episode" 92, "recieve"/"receive" 86; "French"/"German" 50, "v2"/"v3" 50


def same_words(a: str, b: str) -> bool:
    """Whether normalized texts `a` and `b` have the same words in the same order, where a word
    that differs is a typo of the word in its place (rapidfuzz ratio >= TYPO_RATIO)."""
    wa, wb = a.split(), b.split()
    return len(wa) == len(wb) and all(x == y or fuzz.ratio(x, y) >= TYPO_RATIO for x, y in zip(wa, wb))


def _find(parent: dict, x):
    root = x
    while parent.get(root, root) != root:
        root = parent[root]
    while x != root:  # path compression
        parent[x], x = root, parent[x]
    return root


def near_pairs(queries: list[str], vectors: np.ndarray, targets: list[int], ratio: float,
               min_cosine: float = MERGE_MIN_COSINE, pair_budget: int = PAIR_BUDGET
               ) -> list[tuple[int, int]]:
    """Pairs (i, j) with i in `targets`, j any other position, that are near-duplicates: cosine of
    the vectors >= min_cosine, rapidfuzz ratio of the texts >= ratio and the same words (`same_words`).

    The test depends on the two queries only (not on which others exist; see MAX_CANDIDATES for
    the one exception), so adding queries never splits a group: an incremental build merges new
    queries against the existing ones and gets the groups a full build gets. The cosines come from
    one matrix product per chunk of targets, `pair_budget` cosines at most at a time (never all
    pairs at once), and are recomputed in float64 for the pairs kept so both directions agree
    exactly. Of a query with more than MAX_CANDIDATES candidates only the nearest are tested: a
    pair is missed only where that many queries sit nearer to one of the two than its
    near-duplicate does.
    """
    if not targets or len(queries) < 2:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    lengths = np.array([len(q) for q in queries])
    pairs: list[tuple[int, int]] = []
    k = min(MAX_CANDIDATES + 1, len(queries))  # + 1: a query finds itself
    step = max(1, pair_budget // len(queries))
    for start in range(0, len(targets), step):
        chunk = targets[start:start + step]
        cosines, ids = _nearest(vectors[chunk] @ vectors.T, k)
        pairs += _close_texts(queries, vectors, lengths, chunk, cosines, ids, ratio, min_cosine)
    return pairs


def _nearest(cosines: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k highest cosines and their columns, best first (ties: the lower column):
    what a FAISS flat search returns, from cosines already computed. A flat index searched for
    1,001 neighbours spent its time keeping that many in order (0.18 s for 63 new requests
    against 47,000, where the product and this selection take 0.04 s)."""
    if k < cosines.shape[1]:
        ids = np.sort(np.argpartition(-cosines, k - 1, axis=1)[:, :k], axis=1)
    else:
        ids = np.broadcast_to(np.arange(cosines.shape[1]), cosines.shape)
    values = np.take_along_axis(cosines, ids, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(ids, order, axis=1)


def _close_texts(queries: list[str], vectors: np.ndarray, lengths: np.ndarray, targets: list[int],
                 cosines: np.ndarray, ids: np.ndarray, ratio: float, min_cosine: float
                 ) -> list[tuple[int, int]]:
    """The near-duplicate pairs among one chunk's candidates (`cosines`, `ids`: each target's
    nearest, best first, from `_nearest`): texts within `ratio`, vectors within
    `min_cosine` in float64."""
    pairs = []
    for row, i in enumerate(targets):
        cands = ids[row][cosines[row] >= min_cosine - 1e-3]
        cands = cands[cands != i][:MAX_CANDIDATES]
        if not len(cands):
            continue
        # ratio = 200 * matching / (len_i + len_j) <= 200 * min / (len_i + len_j): a cheap bound
        li, lj = lengths[i], lengths[cands]
        cands = cands[200.0 * np.minimum(li, lj) >= ratio * (li + lj) - 1e-9]
        if not len(cands):
            continue
        close = process.extract(queries[i], [queries[j] for j in cands], scorer=fuzz.ratio,
                                score_cutoff=ratio, limit=None)
        vi = vectors[i].astype(np.float64)
        for _, _, k in close:
            j = int(cands[k])
            close_vectors = float(np.sum(vi * vectors[j].astype(np.float64))) >= min_cosine
            if close_vectors and same_words(queries[i], queries[j]):
                pairs.append((i, j))
    return pairs


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
