"""Hybrid search: dense capability retrieval fused with BM25, fuzzy names and the match graph.

Score of an artifact for a query (weights in config `search.*`):
    cold = w_dense * best capability cosine + w_dense_mean * mean of its top-3 capability cosines
         + w_bm25 * BM25 / max BM25 + w_name * fuzzy name score (0 below name_min, 1 at 100)
    learned = w_adapter * adapted cosine (the query through the projection learned from the log;
              with adapter_encoder_epochs > 0, on the vectors of the encoder copy fine-tuned on it)
    score = cold + learned + relevance * (w_graph * walk score / max + w_offsets * offset gain)
          + w_task * task share + w_prior * rank / 100
The walk starts at the past queries nearest to this one (seed weight (cosine - graph_min_sim) **
graph_power) and reaches the artifacts they led to. `task share` walks one step further, to the
task: the share of the walk's mass that landed on artifacts of this artifact's task, given to every
artifact of that task, also to those nobody asked for yet (a request for a never-seen model still
names a task that others asked about), scaled down when fewer than task_evidence past queries
seeded the walk. `offset gain` is how much the capability offsets learned for
artifacts in the log raise the adapted cosine (adapter.py); both adapter terms are 0 for a query
with no past query within graph_min_sim. `relevance` = clip(1 - (best score - this score) /
graph_window, 0, 1) over cold + learned: the artifact-level history reorders artifacts that the
catalog already finds relevant, it cannot lift an unrelated one. Past queries are as close to new
requests for never-seen models as to requests for known ones, so a gate on query similarity alone
cannot tell when history applies; the artifact's own relevance can (see bench/tune.py and
BENCHMARKS.md "Match quality"). With no events all history terms are 0: the ranking is the cold one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .events import normalize_query
from .adapter import Adapter
from .graph import MatchGraph
from .index import LoadedIndex
from .models import PastQuery, SearchResult, Signals


@dataclass
class Filters:
    kind: str | None = None
    pricing: str | None = None
    task: str | None = None

    def mask(self, index: LoadedIndex) -> np.ndarray:
        keep = np.ones(len(index.artifacts), dtype=bool)
        for i, a in enumerate(index.artifacts):
            if (self.kind and a.kind != self.kind) or (self.pricing and a.pricing != self.pricing) \
                    or (self.task and (a.task or "").lower() != self.task.lower()):
                keep[i] = False
        return keep


def request_part(query: str, markers: list[str]) -> str:
    """The request without the sample input pasted after it: the text before the first of
    `markers` (case-insensitive), e.g. "Summarize this review. ###Input: <the review>". The sample
    is what the model will be given, not what it should do; matched as words or meaning it pulls
    towards models about the sample's topic. The whole query when no marker is found or nothing
    precedes it."""
    lowered = query.lower()
    cut = min((i for i in (lowered.find(m.lower()) for m in markers if m) if i > 0), default=0)
    request = query[:cut].strip()
    return request if request else query


def name_signal(scores: np.ndarray, name_min: float) -> np.ndarray:
    """Rapidfuzz scores (0-100) as the name signal: 0 at or below name_min, rising to 1 at 100."""
    return np.clip((scores - name_min) / (100 - name_min), 0, 1)


def task_evidence_scale(n_seeds, task_evidence: int):
    """How much of w_task counts with `n_seeds` past queries seeding the walk (a number or an
    array): all of it from task_evidence on, less below. One past query in the wrong task would
    otherwise hand that whole task its full share (a young log; bench/pseudo_split.py)."""
    return np.minimum(1.0, np.asarray(n_seeds) / max(task_evidence, 1))


def dense_scores(index: LoadedIndex, query_vector: np.ndarray, candidates: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per artifact: best capability cosine, mean of top-3 cosines, best capability row (-1 if none).

    FAISS finds the nearest capabilities; artifacts it did not return keep 0 and get an exact
    score later only if another signal brings them forward (see `rescore`).
    """
    n = len(index.artifacts)
    best, mean3, best_row = np.zeros(n, np.float32), np.zeros(n, np.float32), np.full(n, -1)
    sims, rows = index.ann.search(query_vector, candidates)
    seen = {index.position[index.rows[r][0]] for r in rows[0] if r >= 0}
    rescore(index, query_vector, sorted(seen), best, mean3, best_row)
    return best, mean3, best_row


def rescore(index: LoadedIndex, query_vector: np.ndarray, positions, best, mean3, best_row) -> None:
    """Exact capability cosines for the artifacts at `positions`, written into the arrays.

    Vectorized over all their capabilities at once (rows of an artifact are contiguous): a long
    request brings most of the catalog forward through BM25, and a loop per artifact would cost
    more than the rest of the search.
    """
    positions = np.asarray(positions, dtype=np.int64)
    if not len(positions):
        return
    counts = index.cap_count[positions]
    segment = np.repeat(np.arange(len(positions)), counts)  # which artifact each row belongs to
    seg_start = np.cumsum(counts) - counts
    rows = index.cap_start[positions][segment] + (np.arange(counts.sum()) - seg_start[segment])
    sims = index.vectors[rows] @ query_vector
    order = np.lexsort((-sims, segment))  # by artifact, best capability first
    best[positions] = sims[order[seg_start]]
    best_row[positions] = rows[order[seg_start]]
    top3 = [np.where(counts > j, sims[order[np.minimum(seg_start + j, len(sims) - 1)]], 0.0)
            for j in range(3)]
    mean3[positions] = sum(top3) / np.minimum(counts, 3)


def graph_walk(mg: MatchGraph, query: str, query_vector: np.ndarray, conf: dict
               ) -> tuple[np.ndarray, float, list[tuple[int, float]]]:
    """Artifact scores (n_artifacts,) from a short random walk started at the past queries nearest
    to this one (they sum to 1 with graph_hops = 0); also the best similarity and the
    (query row, similarity) seeds."""
    n_artifacts = mg.weights.shape[1]
    if mg.empty:
        return np.zeros(n_artifacts), 0.0, []
    sims, ids = mg.query_ann.search(query_vector, conf["graph_neighbours"])
    seeds = {int(i): float(s) for s, i in zip(sims[0], ids[0]) if i >= 0 and s >= conf["graph_min_sim"]}
    alias = mg.aliases.get(normalize_query(query))
    if alias is not None:  # the same text asked before (after normalization and near-dup merging)
        seeds[mg.query_pos[alias]] = 1.0
    if not seeds:
        return np.zeros(n_artifacts), 0.0, []
    p = np.zeros(len(mg.queries))
    for row, sim in seeds.items():
        # A steep power: the closest past queries dominate, a crowd of loose ones does not.
        p[row] = (sim - conf["graph_min_sim"] + 1e-3) ** conf["graph_power"]
    p /= p.sum()
    seed_list = sorted(seeds.items(), key=lambda kv: -kv[1])
    return walk(p, mg.transitions, conf["graph_hops"], conf["graph_restart"]), max(seeds.values()), seed_list


def walk(p: np.ndarray, transitions, hops: int, restart: float) -> np.ndarray:
    """Random walk with restart from the query distribution `p`: query -> artifact, then `hops`
    more round trips artifact -> queries that led to it -> artifact, each damped by (1 - restart)."""
    forward, backward = transitions
    scores = np.asarray(p @ forward).ravel()
    step = scores
    for _ in range(hops):
        step = (1 - restart) * np.asarray((step @ backward) @ forward).ravel()
        scores = scores + step
    return scores


def task_share(mg: MatchGraph, walked: np.ndarray) -> np.ndarray:
    """The walk's last step, artifact -> task -> artifact: each artifact gets the share of the
    walk's mass that landed on its task (0 for artifacts without a task)."""
    if len(mg.task_of) != len(walked) or not mg.tasks or walked.sum() <= 0:
        return np.zeros_like(walked)
    has_task = mg.task_of >= 0
    mass = np.bincount(mg.task_of[has_task], weights=walked[has_task], minlength=len(mg.tasks))
    mass = mass / walked.sum()
    return np.where(has_task, mass[np.maximum(mg.task_of, 0)], 0.0)


def search(index: LoadedIndex, mg: MatchGraph | None, query_vector: np.ndarray, query: str,
           k: int, filters: Filters, config: dict, ranks: dict[str, int],
           adapter: Adapter | None = None) -> list[SearchResult]:
    """Rank the catalog for `query`; `ranks` is artifact id -> composite rank (0-100); `adapter`
    is what was learned from the log (None: no events)."""
    conf = config["search"]
    best, mean3, best_row = dense_scores(index, query_vector, conf["candidates"])
    bm25 = index.bm25.scores(query)
    bm25 = bm25 / bm25.max() if bm25.max() > 0 else bm25
    name = name_signal(index.names.scores(query, conf["name_min"]), conf["name_min"])
    if mg is not None:
        walked, _, seeds = graph_walk(mg, query, query_vector, conf)
    else:
        walked, seeds = np.zeros(len(index.artifacts)), []
    history = walked / walked.max() if walked.max() > 0 else walked
    tasks = task_share(mg, walked) if mg is not None else np.zeros(len(index.artifacts))
    tasks = tasks * task_evidence_scale(len(seeds), conf["task_evidence"])

    # Artifacts brought forward by a non-dense signal get their exact dense score too.
    missing = np.nonzero((best_row < 0) & ((bm25 > 0) | (name > 0) | (history > 0) | (tasks > 0)))[0]
    rescore(index, query_vector, missing, best, mean3, best_row)

    prior = np.array([ranks.get(a.id, 50) / 100 for a in index.artifacts], dtype=np.float32)
    parts = {
        "dense": conf["w_dense"] * best + conf["w_dense_mean"] * mean3,
        "bm25": conf["w_bm25"] * bm25,
        "name": conf["w_name"] * name,
    }
    # What was learned from the log applies only where the log is: with no past query within
    # graph_min_sim, a projection fitted to other intents would reorder this one's results.
    general, personal = adapter.scores(index, query_vector, query) if adapter and seeds else (0.0, 0.0)
    learned = conf["w_adapter"] * general
    near = relevance(sum(parts.values()) + learned, best_row >= 0, conf["graph_window"])
    parts["graph"] = (learned + near * (conf["w_graph"] * history + conf["w_offsets"] * (personal - general))
                      + conf["w_task"] * tasks)
    parts["prior"] = conf["w_prior"] * prior
    total = sum(parts.values())
    total = np.where(filters.mask(index) & (best_row >= 0), total, -np.inf)
    order = [int(i) for i in np.argsort(-total, kind="stable")[:k] if np.isfinite(total[i])]
    return [_result(index, mg, pos, position, float(total[pos]), parts, best, best_row, seeds,
                    ranks) for position, pos in enumerate(order, start=1)]


def relevance(cold: np.ndarray, scored: np.ndarray, window: float) -> np.ndarray:
    """1 for the best cold-scored artifact, falling linearly to 0 at `window` below it."""
    if not scored.any():
        return np.zeros_like(cold)
    top = cold[scored].max()
    return np.clip(1 - (top - cold) / max(window, 1e-6), 0, 1) * scored


def _result(index, mg, pos, position, score, parts, best, best_row, seeds, ranks) -> SearchResult:
    artifact = index.artifacts[pos]
    cap_id = index.rows[best_row[pos]][1]
    capability = next(c for c in artifact.capabilities if c.id == cap_id)
    signals = Signals(**{name: round(float(values[pos]), 4) for name, values in parts.items()})
    past = []
    if mg is not None and seeds:
        column = mg.weights[:, pos].toarray().ravel()
        for row, sim in seeds:
            if column[row] > 0:
                matches, n_select = mg.edges[mg.queries[row], artifact.id]
                past.append(PastQuery(query=mg.queries[row], similarity=round(sim, 3),
                                      matches=matches, selects=n_select))
    strongest = max(("dense", "bm25", "name", "graph"), key=lambda n: getattr(signals, n))
    reason = {"dense": f"its capability '{capability.title}' is close in meaning "
                       f"(cosine {best[pos]:.2f})",
              "bm25": "its name, tags or capability text share the query's words",
              "name": "the query names it",
              "graph": (f"people asking similar things chose it ({len(past)} past queries)" if past
                        else f"people asking similar things chose {artifact.task or 'its task'} models")
              }[strongest]
    explanation = f"Matched because {reason}. " + ", ".join(
        f"{n} {getattr(signals, n):+.2f}" for n in ("dense", "bm25", "name", "graph", "prior"))
    if past:
        explanation += ". Past queries: " + "; ".join(f"'{p.query}'" for p in past[:3])
    return SearchResult(artifact_id=artifact.id, name=artifact.name, kind=artifact.kind,
                        pricing=artifact.pricing, task=artifact.task, rank=ranks.get(artifact.id, 50),
                        score=round(score, 4), position=position, matched_capability=cap_id,
                        matched_capability_title=capability.title, similarity=round(float(best[pos]), 4),
                        explanation=explanation, signals=signals, past_queries=past[:5],
                        tool=capability.tool)
