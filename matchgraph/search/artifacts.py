"""Hybrid search: dense capability retrieval fused with BM25, names and the match graph.

A search has two steps, each one function:

- `gather` collects the candidate artifacts and their raw signals: the artifacts of the ANN's
  nearest capabilities, BM25's top documents, the artifacts the query names (name index), the
  artifacts the graph walk reaches from the nearest past queries and the artifacts of the tasks it
  lands on. Every candidate then gets its exact capability cosines. Nothing here visits the whole
  catalog: the cost is the ANN, the inverted indexes and the candidates.
- `rank` fuses the signals over the candidates (matchgraph.retrieval.fusion, the functions bench/tune.py
  chose the weights with), applies the filters and the rank prior (precomputed columns) and
  returns the top k.

Score of an artifact (weights in config `search.*`, see retrieval/fusion.py):
    cold = w_dense * best capability cosine
         + w_bm25 * BM25 / max BM25 + w_name * fuzzy name score (0 below name_min, 1 at 100)
    learned = w_adapter * adapted cosine (the query through the projection learned from the log)
    score = cold + learned + relevance * w_offsets * offset gain
          + w_task * task share + w_prior * rank / 100
          + w_asked * asked (search/asked.py: the share of the selects of the past request this one repeats)
The walk starts at the past queries nearest to this one (seed weight (cosine - graph_min_sim) **
graph_power) and reaches the artifacts they led to. `task share` walks one step further, to the
task: the share of the walk's mass that landed on artifacts of this artifact's task, given to every
artifact of that task, also to those nobody asked for yet (a request for a never-seen model still
names a task that others asked about), scaled down when fewer than task_evidence past queries
seeded the walk. `offset gain` is how much the capability offsets learned for
artifacts in the log raise the adapted cosine (learn/adapter.py); both adapter terms are 0 for a query
with no past query within graph_min_sim. `relevance` = clip(1 - (best score - this score) /
graph_window, 0, 1) over cold + learned: the artifact-level history reorders artifacts that the
catalog already finds relevant, it cannot lift an unrelated one. Past queries are as close to new
requests for never-seen models as to requests for known ones, so a gate on query similarity alone
cannot tell when history applies; the artifact's own relevance can (see bench/tune.py and
BENCHMARKS.md "Match quality"). With no events all history terms are 0: the ranking is the cold one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from ..core.arrays import row_entries, sorted_unique
from ..core.events import normalize_query
from ..core.results import PastQuery, Reason, SearchResult, Signals
from ..graph.match_graph import MatchGraph
from ..learn.adapter import Adapter
from ..retrieval.fusion import (
    Weights,
    capability_scores,
    cold_parts,
    fuse,
    max_normalize,
    name_signal,
    seed_weights,
    share_of,
    task_evidence_scale,
    task_mass,
)
from ..retrieval.index import LoadedIndex, task_key
from .asked import asked_before

# One search is small matrix-vector work: BLAS threads cost more than they save, and under
# concurrent requests they fight over the cores (a 3,000-row rescore took 30 ms instead of 1.5).
# Set once for the process, as retrieval/ann.py does for FAISS.
threadpool_limits(1, user_api="blas")

__all__ = ["Filters", "search", "gather", "rank", "graph_walk"]


@dataclass
class Filters:
    kind: str | None = None
    pricing: str | None = None
    task: str | None = None

    def keep(self, index: LoadedIndex, positions: np.ndarray) -> np.ndarray:
        """Which of the artifacts at `positions` pass, from the index's code columns."""
        keep = np.ones(len(positions), dtype=bool)
        for value, codes, column, fold in ((self.kind, index.kind_codes, index.kind_of, str),
                                           (self.pricing, index.pricing_codes, index.pricing_of, str),
                                           (self.task, index.task_codes, index.task_of, task_key)):
            if value:
                keep &= column[positions] == codes.get(fold(value), -2)
        return keep


@dataclass
class Walk:
    """The graph walk of one query: the artifacts it reached and its mass on them, the
    (past query row, cosine) seeds, closest first, the walk's mass per task (n_tasks,), and the
    nearest past query whatever its cosine ((-1, -1.0): none; None: not looked up)."""

    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mass: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seeds: list[tuple[int, float]] = field(default_factory=list)
    task_mass: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nearest: tuple[int, float] | None = None


def graph_walk(mg: MatchGraph | None, index: LoadedIndex, query: str, query_vector: np.ndarray,
               conf: dict, exclude: frozenset[int] = frozenset()) -> Walk:
    """One step from the past queries nearest to this one to the artifacts they led to (its mass
    sums to 1), as sparse vectors: its cost is the seeds' edges, not the catalog. Past query rows
    in `exclude` never seed it (leave-one-out: bench/vote_loo.py). Further artifact -> query ->
    artifact round trips (once `search.graph_hops`) were never chosen on train and are gone."""
    if mg is None or mg.empty:
        return Walk()
    sims, ids = mg.query_ann.search(query_vector, conf["graph_neighbours"] + len(exclude))
    found = [(int(i), float(s)) for s, i in zip(sims[0], ids[0]) if i >= 0 and int(i) not in exclude]
    nearest = found[0] if found else (-1, -1.0)
    seeds = {i: s for i, s in found[:conf["graph_neighbours"]] if s >= conf["graph_min_sim"]}
    alias = mg.aliases.get(normalize_query(query))
    if alias is not None and mg.query_pos[alias] not in exclude:  # the same text asked before
        seeds[mg.query_pos[alias]] = 1.0  # (after normalization and near-dup merging)
    if not seeds:
        return Walk(nearest=nearest)
    rows = np.array(list(seeds), dtype=np.int64)
    p = seed_weights(np.array(list(seeds.values())), conf["graph_min_sim"], conf["graph_power"])
    start = sparse.csr_matrix((p / p.sum(), (np.zeros(len(rows), np.int64), rows)), shape=(1, len(mg.queries)))
    walked = sparse.csr_matrix(start @ mg.transitions).tocoo()
    positions, mass = walked.col.astype(np.int64), walked.data.astype(np.float64)
    keep = mass > 0
    positions, mass = positions[keep], mass[keep]
    return Walk(positions, mass, sorted(seeds.items(), key=lambda kv: -kv[1]),
                task_mass(mass, index.task_of[positions], len(index.task_codes)), nearest)


@dataclass
class Candidates:
    """One query's candidate artifacts (sorted positions) and their raw signals, aligned."""

    positions: np.ndarray
    best: np.ndarray  # best capability cosine
    mean3: np.ndarray  # 0: the mean of the top-3 capability cosines is not computed (weight 0)
    best_row: np.ndarray  # capability row of the best one (-1: the artifact has none)
    bm25: np.ndarray  # BM25 / the best document's BM25
    name: np.ndarray  # name signal 0..1
    history: np.ndarray  # walk mass / its max
    tasks: np.ndarray  # task share, times the evidence scale
    asked: np.ndarray  # times selected for the past request this one repeats (search/asked.py)
    walk: Walk


def gather(index: LoadedIndex, mg: MatchGraph | None, query_vector: np.ndarray, query: str,
           conf: dict, repeats: MatchGraph | None = None, exclude: frozenset[int] = frozenset()
           ) -> Candidates:
    """Every artifact some signal brings forward, with exact capability cosines for each. `mg` is
    the graph walked (never from the past query rows in `exclude`), `repeats` the one a repeat of
    `query` is looked up in (search/asked.py)."""
    _, rows = index.ann.search(query_vector, conf["candidates"])
    dense = index.cap_owner[rows[0][rows[0] >= 0]]
    bm25_pos, bm25_scores = index.bm25.top(query, conf["bm25_candidates"])
    named = index.name_index.hits(query, conf["name_min"])
    named = {pos: score for pos, score in named.items() if score > conf["name_min"]}
    walked = graph_walk(mg, index, query, query_vector, conf, exclude)
    # A request of one action walks the graph its repeats are looked up in: one search serves both.
    asked_pos, asked_selects = asked_before(repeats, query, query_vector, conf["input_markers"],
                                            walked.nearest if repeats is mg else None)
    evidence = task_evidence_scale(len(walked.seeds), conf["task_evidence"])
    tasks = np.nonzero(walked.task_mass > 0)[0] if evidence > 0 else np.zeros(0, np.int64)
    # Past task_candidates (a task of a huge catalog), the heaviest tasks' artifacts come first.
    tasks = tasks[np.argsort(-walked.task_mass[tasks], kind="stable")]
    task_members = index.members_of_tasks(tasks)[:conf["task_candidates"]]
    positions = sorted_unique(np.concatenate([dense, bm25_pos, np.fromiter(named, np.int64, len(named)),
                                              walked.positions, task_members, asked_pos]).astype(np.int64))
    # the top-3 mean is weighed 0 (w_dense_mean lost on train): not computed
    best, mean3, best_row = capability_scores(index, query_vector, positions, top3=False)

    def spread(where, values) -> np.ndarray:
        """`values` of the artifacts at positions `where`, aligned with the candidates."""
        out = np.zeros(len(positions))
        out[np.searchsorted(positions, np.asarray(where, dtype=np.int64))] = values
        return out

    bm25 = spread(bm25_pos, max_normalize(bm25_scores))
    name = spread(list(named), name_signal(np.array(list(named.values())), conf["name_min"]))
    history = spread(walked.positions, max_normalize(walked.mass))
    tasks = share_of(walked.task_mass, index.task_of[positions]) * evidence if len(walked.task_mass) \
        else np.zeros(len(positions))
    return Candidates(positions, best, mean3, best_row, bm25, name, history, tasks,
                      spread(asked_pos, asked_selects), walked)


def rank(index: LoadedIndex, found: Candidates, query_vector: np.ndarray, query: str, conf: dict,
         prior: np.ndarray, filters: Filters, adapter: Adapter | None, k: int
         ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Fuse the candidates' signals: (weighted parts over the candidates, their totals, the
    candidate numbers of the top k, best first). `prior` is every artifact's rank (0-100)."""
    w = Weights.from_config(conf)
    scored = found.best_row >= 0
    cold = cold_parts(w, found.best, found.mean3, found.bm25, found.name)
    general = personal = 0.0
    # What was learned from the log applies only where the log is: with no past query within
    # graph_min_sim, a projection fitted to other intents would reorder this one's results.
    if adapter is not None and found.walk.seeds:
        general, personal = adapter.scores(index, query_vector, found.positions)
    parts = fuse(w, cold, scored, general=general, personal=personal, history=found.history,
                 tasks=found.tasks, asked=max_normalize(found.asked), prior=prior[found.positions] / 100)
    total = np.where(filters.keep(index, found.positions) & scored, sum(parts.values()), -np.inf)
    order = np.argsort(-total, kind="stable")[:k]  # ties: catalog order (positions are sorted)
    return parts, total, order[np.isfinite(total[order])]


def search(index: LoadedIndex, mg: MatchGraph | None, query_vector: np.ndarray, query: str,
           k: int, filters: Filters, config: dict, prior: np.ndarray,
           adapter: Adapter | None = None, repeats: MatchGraph | None = None) -> list[SearchResult]:
    """Rank the catalog for `query`; `prior` (n_artifacts,) is each artifact's composite rank
    (0-100, catalog order); `adapter` is what was learned from the log (None: no events); `mg`
    is the graph walked (None: no history), `repeats` the one whose past requests `query` may
    repeat (search/asked.py; None: not looked up)."""
    conf = config["search"]
    found = gather(index, mg, query_vector, query, conf, repeats)
    parts, total, order = rank(index, found, query_vector, query, conf, prior, filters, adapter, k)
    links = _seed_links(mg, found.walk.seeds)
    return [_result(index, mg, found, links, parts, int(i), float(total[i]), position,
                    int(prior[found.positions[i]])) for position, i in enumerate(order, start=1)]


def _seed_links(mg: MatchGraph | None, seeds) -> dict[int, list[tuple[int, float]]]:
    """Artifact position -> the seeds (past query row, cosine) with an edge to it, closest first:
    read off the seeds' rows of the graph's weights once per search (indexing the sparse matrix
    for each result cost ~0.4 ms a search at 100k, BENCHMARKS.md)."""
    links: dict[int, list[tuple[int, float]]] = {}
    if mg is None:
        return links
    for row, sim in seeds:
        for col, weight in zip(*row_entries(mg.weights, row)):
            if weight > 0:
                links.setdefault(int(col), []).append((row, sim))
    return links


def _past_queries(mg: MatchGraph | None, artifact_id: str, seeds) -> list[PastQuery]:
    """PastQuery for each of `seeds` (past query row, cosine) that led to this artifact, in order."""
    past = []
    for row, sim in seeds:
        matches, n_select = mg.edges[mg.queries[row], artifact_id]
        past.append(PastQuery(query=mg.queries[row], similarity=round(sim, 3), matches=matches,
                              selects=n_select))
    return past


def _result(index: LoadedIndex, mg: MatchGraph | None, found: Candidates, links: dict, parts: dict,
            i: int, score: float, position: int, rank_value: int) -> SearchResult:
    """Result `position` (1-based): candidate number `i` with its weighted `parts`; `links` from
    _seed_links."""
    pos = int(found.positions[i])
    artifact_id, task = index.ids[pos], index.tasks[pos]  # the columns: no record is parsed whole
    cap_id = index.rows[found.best_row[i]][1]
    capability = index.artifacts.shown(pos, cap_id)
    signals = Signals(**{name: round(float(values[i]), 4) for name, values in parts.items()})
    past = _past_queries(mg, artifact_id, links.get(pos, ()))
    reason = Reason(signal=max(("dense", "bm25", "name", "graph"), key=lambda n: getattr(signals, n)),
                    capability_title=capability.title, similarity=round(float(found.best[i]), 4),
                    task=task, past_queries=[p.query for p in past], past_selects=sum(p.selects for p in past),
                    selected_before=int(found.asked[i]))
    explanation = reason.sentence() + " " + ", ".join(
        f"{n} {getattr(signals, n):+.2f}" for n in ("dense", "bm25", "name", "graph", "prior"))
    if past:
        explanation += ". Past queries: " + "; ".join(f"'{p.query}'" for p in past[:3])
    return SearchResult(artifact_id=artifact_id, name=index.names[pos], kind=index.kind(pos),
                        pricing=index.pricing(pos), task=task, rank=rank_value,
                        score=round(score, 4), position=position, matched_capability=cap_id,
                        matched_capability_title=capability.title, similarity=round(float(found.best[i]), 4),
                        explanation=explanation, reason=reason, signals=signals, past_queries=past[:5],
                        tool=capability.tool)
