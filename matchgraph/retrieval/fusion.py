"""The score fusion of search, as small pure functions over numpy arrays.

search/artifacts.py calls them over one query's candidate artifacts (arrays of shape (n,)); bench/tune.py
and bench/vote_loo.py call the same functions over (queries x artifacts) arrays to choose the
weights, so what was tuned is what runs. Every function works on the last axis.

    cold    = w_dense * best cosine + w_bm25 * BM25 / max + w_name * name signal
    learned = w_adapter * adapted cosine
    total   = cold + learned + relevance(cold + learned) * (w_graph * walk / max
              + w_offsets * (personal - general)) + w_task * task share + w_asked * asked
              + w_prior * rank/100

w_dense_mean (the top-3 mean cosine) and w_graph (the walk's artifact level) are 0 for search:
they lost on train (BENCHMARKS.md) and are no settings; bench/tune.py still varies them here, and
find_tools sets w_graph from `tools.w_graph` (its tool history). A term at weight 0 is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..core.config import DEFAULTS
from .ann import row_dots

_DEFAULT = DEFAULTS["search"]
SIGNALS = ("dense", "bm25", "name", "graph", "prior")  # the parts a result reports (models.Signals)


@dataclass(frozen=True)
class Weights:
    """The fusion's weights and shape parameters: config `search`'s keys of the same names (their
    defaults are the config's, declared once in config.SETTINGS)."""

    w_dense: float = _DEFAULT["w_dense"]
    w_dense_mean: float = 0.0  # lost: no gain on train (bench/tune.py)
    w_bm25: float = _DEFAULT["w_bm25"]
    w_name: float = _DEFAULT["w_name"]
    name_min: float = _DEFAULT["name_min"]
    w_adapter: float = _DEFAULT["w_adapter"]
    w_graph: float = 0.0  # search: lost to the offsets (bench/tune.py --adapter); tools.w_graph for tools
    w_offsets: float = _DEFAULT["w_offsets"]
    graph_window: float = _DEFAULT["graph_window"]
    w_task: float = _DEFAULT["w_task"]
    task_evidence: int = _DEFAULT["task_evidence"]
    w_asked: float = _DEFAULT["w_asked"]
    w_prior: float = _DEFAULT["w_prior"]

    @classmethod
    def from_config(cls, conf: dict, **override) -> "Weights":
        """From config `search` (unknown keys ignored; a field that is no setting keeps its
        default); `override` replaces single values."""
        return cls(**{f.name: override[f.name] if f.name in override else conf[f.name]
                      for f in fields(cls) if f.name in override or f.name in conf})


def max_normalize(scores: np.ndarray) -> np.ndarray:
    """Scores divided by their maximum along the last axis (rows whose max is <= 0 stay as they are)."""
    scores = np.asarray(scores, dtype=np.float64)
    top = scores.max(axis=-1, keepdims=True, initial=0.0)
    return np.divide(scores, top, out=scores.copy(), where=top > 0)


def name_signal(scores: np.ndarray, name_min: float) -> np.ndarray:
    """Rapidfuzz scores (0-100) as the name signal: 0 at or below name_min, rising to 1 at 100."""
    return np.clip((np.asarray(scores) - name_min) / (100 - name_min), 0, 1)


def relevance(cold: np.ndarray, scored: np.ndarray, window: float) -> np.ndarray:
    """1 for the best-scored artifact, falling linearly to 0 at `window` below it; 0 where not
    `scored` (a boolean mask of the same shape: artifacts with a dense score)."""
    cold = np.asarray(cold, dtype=np.float64)
    scored = np.broadcast_to(np.asarray(scored, dtype=bool), cold.shape)
    top = np.where(scored, cold, -np.inf).max(axis=-1, keepdims=True, initial=-np.inf)
    near = np.clip(1 - (top - cold) / max(window, 1e-6), 0, 1)
    return np.where(scored & np.isfinite(top), near, 0.0)


def seed_weights(similarities: np.ndarray, min_sim: float, power: float) -> np.ndarray:
    """Walk start weight of past queries at these cosines (not yet normalized): a steep power, so
    the closest past queries dominate and a crowd of loose ones does not. Callers drop the
    queries below min_sim first."""
    return (np.asarray(similarities, dtype=np.float64) - min_sim + 1e-3) ** power


def task_share(walked: np.ndarray, task_of: np.ndarray, n_tasks: int) -> np.ndarray:
    """The walk's last step, artifact -> task -> artifact: for each artifact, the share of the walk's
    mass that landed on its task (0 for artifacts without a task, task number -1).

    `walked` (..., n) is the walk's mass on n artifacts (all the artifacts it reached), `task_of`
    (n,) their task numbers.
    """
    return share_of(task_mass(walked, task_of, n_tasks), task_of)


def task_mass(walked: np.ndarray, task_of: np.ndarray, n_tasks: int) -> np.ndarray:
    """Share of the walk's mass per task (..., n_tasks); all 0 when nothing was walked."""
    walked = np.atleast_1d(np.asarray(walked, dtype=np.float64))
    has = task_of >= 0
    flat = walked.reshape(-1, walked.shape[-1])
    mass = np.zeros((len(flat), max(n_tasks, 0)))
    for i, row in enumerate(flat):  # a row per query: bincount has no axis
        if n_tasks:
            mass[i] = np.bincount(task_of[has], weights=row[has], minlength=n_tasks)
    total = flat.sum(axis=1, keepdims=True)
    mass = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
    return mass.reshape(walked.shape[:-1] + (max(n_tasks, 0),))


def share_of(mass: np.ndarray, task_of: np.ndarray) -> np.ndarray:
    """Each artifact's task share from the per-task mass (..., n_tasks); 0 without a task."""
    if mass.shape[-1] == 0:
        return np.zeros(mass.shape[:-1] + task_of.shape)
    return np.where(task_of >= 0, mass[..., np.maximum(task_of, 0)], 0.0)


def task_evidence_scale(n_seeds, task_evidence: int):
    """How much of w_task counts with `n_seeds` past queries seeding the walk (a number or an
    array): all of it from task_evidence on, less below. One past query in the wrong task would
    otherwise hand that whole task its full share (a young log; bench/pseudo_split.py)."""
    return np.minimum(1.0, np.asarray(n_seeds) / max(task_evidence, 1))


def cold_parts(w: Weights, best, mean3, bm25, name) -> dict[str, np.ndarray]:
    """The catalog's own signals, weighted: {"dense", "bm25", "name"}. `bm25` is max-normalized,
    `name` the name signal (name_signal), `best`/`mean3` capability cosines."""
    dense = w.w_dense * np.asarray(best)
    if w.w_dense_mean:  # 0 outside bench/tune.py
        dense = dense + w.w_dense_mean * np.asarray(mean3)
    return {"dense": dense,
            "bm25": w.w_bm25 * np.asarray(bm25), "name": w.w_name * np.asarray(name)}


def fuse(w: Weights, cold: dict[str, np.ndarray], scored, *, general=0.0, personal=0.0,
         history=0.0, tasks=0.0, asked=0.0, prior=0.0) -> dict[str, np.ndarray]:
    """All five weighted parts (SIGNALS); the score is their sum.

    `cold` from cold_parts; `scored` marks artifacts with a dense score; `general`/`personal` the
    adapter's cosines (0 with no adapter), `history` the walk's max-normalized artifact scores,
    `tasks` the task share (times task_evidence_scale where the caller applies it), `asked` the
    selects share of the past request this one repeats (search/asked.py: outside the window), `prior` rank/100.
    """
    learned = w.w_adapter * np.asarray(general, dtype=np.float64)
    near = relevance(sum(cold.values()) + learned, scored, w.graph_window)
    lifted = w.w_offsets * (np.asarray(personal) - np.asarray(general)) if w.w_offsets else 0.0
    if w.w_graph:  # 0 for search (the walk's artifact level lost to the offsets)
        lifted = lifted + w.w_graph * np.asarray(history)
    graph = learned + near * lifted \
        + w.w_task * np.asarray(tasks) + w.w_asked * np.asarray(asked)
    return {**cold, "graph": graph, "prior": w.w_prior * np.asarray(prior)}


def capability_scores(index, query_vector: np.ndarray, positions, top3: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact capability cosines of the artifacts at `positions` (m,): best cosine, mean of the top
    3 (0 unless `top3`: search weighs it 0, bench/tune.py varies it) and the best capability's row
    (-1 for an artifact without capabilities), each (m,).

    `index` has `vectors` (n_capabilities, dim) and per artifact `cap_start`/`cap_count` (an
    artifact's rows are contiguous). Vectorized over all their capabilities at once: a long
    request brings many artifacts forward through BM25, and a loop per artifact would cost more
    than the rest of the search.
    """
    positions = np.asarray(positions, dtype=np.int64)
    m = len(positions)
    best, mean3, best_row = np.zeros(m, np.float32), np.zeros(m, np.float32), np.full(m, -1, np.int64)
    counts = index.cap_count[positions]
    has = counts > 0
    if not has.any():
        return best, mean3, best_row
    counts = counts[has]
    segment = np.repeat(np.arange(len(counts)), counts)  # which artifact each row belongs to
    seg_start = np.cumsum(counts) - counts
    rows = index.cap_start[positions[has]][segment] + (np.arange(counts.sum()) - seg_start[segment])
    sims = row_dots(index.vectors, rows, query_vector)
    ranked = _best_first(sims, segment, seg_start, counts)  # ranked[:, j]: j-th best, as a row of sims
    best[has] = sims[ranked[:, 0]]
    best_row[has] = rows[ranked[:, 0]]
    if top3:
        three = [np.where(counts > j, sims[ranked[:, j]], 0.0) if j < ranked.shape[1]
                 else np.zeros(len(counts), np.float32) for j in range(3)]
        mean3[has] = sum(three) / np.minimum(counts, 3)
    return best, mean3, best_row


_GRID_MAX = 16  # up to this many capabilities per artifact, sort them in a padded grid


def _best_first(sims: np.ndarray, segment: np.ndarray, seg_start: np.ndarray, counts: np.ndarray
                ) -> np.ndarray:
    """(n_artifacts, min(3, widest)) int64: per artifact (segment), the indices into `sims` of its
    best, second and third capability, best first, ties in row order (an index past an artifact's
    count is clipped into range; callers mask it by the count). The order of a stable lexsort by
    (artifact, -cosine); with few capabilities per artifact a stable sort along the rows of a
    padded grid gives it for a third of the cost."""
    width = int(counts.max())
    if width <= _GRID_MAX:
        grid = np.full((len(counts), width), np.inf, dtype=np.float32)
        grid[segment, np.arange(len(sims)) - seg_start[segment]] = -sims  # padding sorts last
        order = np.argsort(grid, axis=1, kind="stable")[:, :3]
        return np.minimum(seg_start[:, None] + order, len(sims) - 1)
    order = np.lexsort((-sims, segment))  # by artifact, best capability first
    return order[np.minimum(seg_start[:, None] + np.arange(3), len(sims) - 1)]


def rescore(index, query_vector: np.ndarray, positions, best, mean3, best_row) -> None:
    """capability_scores written into catalog-sized arrays at `positions`."""
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions):
        best[positions], mean3[positions], best_row[positions] = \
            capability_scores(index, query_vector, positions)
