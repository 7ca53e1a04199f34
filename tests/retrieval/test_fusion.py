"""The fusion's pure functions (matchgraph.retrieval.fusion) on small hand-made arrays, and the name index
against rapidfuzz over every name."""

from types import SimpleNamespace

import numpy as np
import pytest
from rapidfuzz import fuzz

from matchgraph.core.arrays import sorted_unique
from matchgraph.core.events import normalize_query
from matchgraph.retrieval.ann import row_dots
from matchgraph.retrieval.fusion import (
    Weights,
    capability_scores,
    cold_parts,
    fuse,
    relevance,
    rescore,
    task_evidence_scale,
    task_share,
)
from matchgraph.retrieval.lexical import NameIndex


def test_relevance_is_one_at_the_top_and_falls_to_zero_at_the_window():
    cold = np.array([1.0, 0.9, 0.85, 0.7, 0.2])
    near = relevance(cold, np.ones(5, bool), window=0.2)
    assert np.allclose(near, [1.0, 0.5, 0.25, 0.0, 0.0])


def test_relevance_ignores_unscored_artifacts_and_works_per_row():
    cold = np.array([[5.0, 1.0, 0.9], [0.3, 0.4, 0.1]])
    scored = np.array([False, True, True])  # the 5.0 has no dense score: neither top nor lifted
    near = relevance(cold, scored, window=0.2)
    assert np.allclose(near[0], [0.0, 1.0, 0.5])
    assert np.allclose(near[1], [0.0, 1.0, 0.0])
    assert not relevance(cold[0], np.zeros(3, bool), 0.2).any()


def test_task_share_gives_every_artifact_of_a_task_that_tasks_share():
    task_of = np.array([0, 0, 1, -1, 1])
    walked = np.array([0.5, 0.0, 0.25, 0.25, 0.0])  # 0.25 landed on an artifact without a task
    share = task_share(walked, task_of, n_tasks=2)
    assert np.allclose(share, [0.5, 0.5, 0.25, 0.0, 0.25])  # artifact 4: never walked, same task
    rows = task_share(np.stack([walked, np.zeros(5)]), task_of, n_tasks=2)
    assert np.allclose(rows[0], share) and not rows[1].any()  # nothing walked: no share
    assert not task_share(walked, np.full(5, -1), n_tasks=0).any()


def test_task_evidence_scales_down_below_the_evidence():
    assert np.allclose(task_evidence_scale(np.array([0, 1, 3, 7]), 3), [0, 1 / 3, 1, 1])


def test_fuse_adds_history_only_within_the_relevance_window():
    w = Weights(w_graph=1.0, graph_window=0.2, w_task=0.0, w_prior=0.0, w_adapter=0.0, w_offsets=0.0)
    cold = cold_parts(w, best=np.array([0.8, 0.7, 0.3]), mean3=0.0, bm25=np.zeros(3), name=np.zeros(3))
    parts = fuse(w, cold, True, history=np.array([0.0, 1.0, 1.0]))
    assert np.allclose(parts["graph"], [0.0, 0.5, 0.0])  # 0.1 below the top: half; 0.5 below: none
    assert set(parts) == {"dense", "bm25", "name", "graph", "prior"}


def _index(caps_per_artifact: list[int], seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = np.array(caps_per_artifact)
    vectors = rng.normal(size=(counts.sum(), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return SimpleNamespace(vectors=vectors, cap_count=counts, cap_start=np.cumsum(counts) - counts)


def test_rescore_matches_a_loop_per_artifact_and_leaves_others_alone():
    index = _index([3, 1, 0, 5, 2])
    query = index.vectors[4] + 0.1
    n = len(index.cap_count)
    best, mean3, best_row = np.full(n, -7, np.float32), np.full(n, -7, np.float32), np.full(n, -7)
    rescore(index, query, [0, 2, 3], best, mean3, best_row)
    for pos in (0, 3):
        start, count = index.cap_start[pos], index.cap_count[pos]
        sims = index.vectors[start:start + count] @ query
        assert best[pos] == pytest.approx(sims.max())
        assert mean3[pos] == pytest.approx(np.sort(sims)[::-1][:3].mean())
        assert best_row[pos] == start + int(np.argmax(sims))
    assert best_row[2] == -1 and best[2] == 0  # no capabilities
    assert best[1] == -7 and best[4] == -7  # not asked for
    b, m, r = capability_scores(index, query, [3, 0])
    assert np.allclose(b, best[[3, 0]]) and list(r) == [best_row[3], best_row[0]]


def test_name_index_finds_what_rapidfuzz_over_every_name_finds():
    names = ["trocr-base-handwritten", "stable-diffusion", "whisper-large-v3", "bert-base-uncased",
             "t5", "clip-vit-base-patch32", "sd-turbo"]
    ids = [f"org{i}/{n}" for i, n in enumerate(names)]
    index = NameIndex(names, ids)
    for query in ("trocr base handwriten", "please run stable diffusion on this", "whisper large v3",
                  "bert base uncased model for sentiment", "t5", "sd turbo please"):
        q = normalize_query(query)
        want = {}
        for pos, name in enumerate(names):
            choice = normalize_query(name)
            score = fuzz.ratio(q, choice)
            if 5 <= len(choice) <= len(q):
                score = max(score, fuzz.partial_ratio(q, choice))
            if score >= 80:
                want[pos] = score
        got = {pos: s for pos, s in index.hits(query, 80).items() if s >= 80}
        assert got.keys() == want.keys(), query
        assert all(got[p] == pytest.approx(want[p]) for p in want)


def _reference_candidates(index: NameIndex, q: str) -> list[int]:
    """NameIndex.candidates written plainly: every choice's trigram set against the query's."""
    def grams(text):
        padded = f" {text} "
        return {padded[i:i + 3] for i in range(len(padded) - 2)} if text else set()

    query = grams(q)
    scored = []
    for j, choice in enumerate(index.choices):
        mine = grams(choice)
        shared = len(query & mine)
        if shared and shared / max(len(mine), 1) >= index.min_shared:
            scored.append((-(shared / max(len(mine), 1)), j))
    return sorted(j for _, j in sorted(scored)[:index.max_fuzzy])


def _real_like_names(rng, n):
    families = ["llama", "mistral", "whisper", "bert", "t5", "clip", "sd", "yolo", "qwen", "phi"]
    parts = [["3", "3.1", "v2", "xl", "1.5"], ["base", "large", "7b", "tiny", "mini"],
             ["medical", "legal", "news", "chat", "ocr"], ["english", "german", "multilingual", "ft"]]
    names, ids = [], []
    for i in range(n):
        name = "-".join([families[rng.integers(len(families))]]
                        + [p[rng.integers(len(p))] for p in parts[:rng.integers(0, 5)]])
        names.append(name if rng.random() > 0.05 else "")
        tail = name if rng.random() < 0.7 else f"{name}-gguf" if rng.random() < 0.5 else name.upper()
        ids.append(f"org{rng.integers(20)}/{tail}")
    return names, ids


@pytest.mark.parametrize("seed", range(6))
def test_name_index_candidates_equal_a_plain_count_over_every_choice(seed):
    rng = np.random.default_rng(seed)
    if seed % 2:  # random strings over a small alphabet: many shared trigrams, many ties
        names = ["".join(rng.choice(list("abc d-"), rng.integers(0, 12))) for _ in range(300)]
        ids = [f"o/{n}" if rng.random() < 0.5 else f"o/{''.join(rng.choice(list('abcd'), 6))}" for n in names]
    else:
        names, ids = _real_like_names(rng, 400)
    min_shared = [0.5, 0.3, 0.75, 1.0, 0.0, 0.5][seed]
    index = NameIndex(names, ids, min_shared=min_shared, max_fuzzy=[100, 7, 20, 3, 50, 1][seed])
    queries = [n.replace("-", " ") for n in names[:30]] + [i.rsplit("/", 1)[-1] for i in ids[:10]]
    queries += ["please run llama 3 7b medical on this", "whispr large", "t5", "", "zzz", "a", "ab c"]
    queries += ["".join(rng.choice(list("abc d-"), rng.integers(1, 15))) for _ in range(30)]
    for query in queries:
        q = normalize_query(query)
        assert index.candidates(q).tolist() == _reference_candidates(index, q), query
        picked = set(_reference_candidates(index, q)) | {j for j, c in enumerate(index.choices) if q and c == q}
        want: dict[int, float] = {}
        for j in sorted(picked):
            choice = index.choices[j]
            score = fuzz.ratio(q, choice)
            if index.min_partial_len <= len(choice) <= len(q):
                score = max(score, fuzz.partial_ratio(q, choice))
            if score > 0:
                want[j % index.n] = max(want.get(j % index.n, 0.0), score)
        got = index.hits(query)
        assert got.keys() == want.keys(), query
        assert all(got[p] == pytest.approx(want[p]) for p in want), query


def _lexsort_capability_scores(index, query, positions):
    """capability_scores as first written (a stable lexsort by artifact and -cosine): the
    reference its faster sort must equal exactly."""
    counts_all = index.cap_count[positions]
    m = len(positions)
    best, mean3, best_row = np.zeros(m, np.float32), np.zeros(m, np.float32), np.full(m, -1, np.int64)
    has = counts_all > 0
    if not has.any():
        return best, mean3, best_row
    counts = counts_all[has]
    segment = np.repeat(np.arange(len(counts)), counts)
    seg_start = np.cumsum(counts) - counts
    rows = index.cap_start[positions[has]][segment] + (np.arange(counts.sum()) - seg_start[segment])
    sims = row_dots(index.vectors, rows, query)
    order = np.lexsort((-sims, segment))
    best[has], best_row[has] = sims[order[seg_start]], rows[order[seg_start]]
    top3 = [np.where(counts > j, sims[order[np.minimum(seg_start + j, len(sims) - 1)]], 0.0) for j in range(3)]
    mean3[has] = sum(top3) / np.minimum(counts, 3)
    return best, mean3, best_row


@pytest.mark.parametrize("widest", [1, 2, 3, 5, 16, 40])
def test_capability_scores_equal_a_stable_lexsort_exactly(widest):
    rng = np.random.default_rng(widest)
    index = _index(list(rng.integers(0, widest + 1, 300)), seed=widest)
    index.vectors = np.round(index.vectors, 1)  # many tied cosines: ties must go to the first row
    query = np.round(index.vectors[0], 1)
    positions = np.sort(rng.choice(300, 120, replace=False))
    got, want = capability_scores(index, query, positions), _lexsort_capability_scores(index, query, positions)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)


def test_sorted_unique_is_np_unique():
    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 7, 1300):
        for high in (1, 3, 100_000):
            values = rng.integers(0, high, n).astype(np.int64)
            got = sorted_unique(values)
            assert got.dtype == np.int64 and np.array_equal(got, np.unique(values))
