"""Scores 0-100 per artifact, each with the inputs that explain it, and the composite rank.

Each sub-score is the percentile, within the catalog, of a log-scaled raw value. An artifact
lacking the signal gets `scores.neutral_prior` (default 50: "no evidence either way"), stated
in its explanation, never a silent zero. Defaults of `scores.weights`: adoption 0.3, quality
0.2, ecosystem 0.2, match_graph 0.2, freshness 0.1.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Callable, Iterator

import numpy as np

from ..core.catalog import Artifact
from ..core.signals import CATALOG_SIGNALS, CatalogSignals, catalog_signals, freshness_of, percentiles

SUBSCORES = ("adoption", "quality", "ecosystem", "match_graph", "freshness")


class Scores(Mapping):
    """artifact id -> {"adoption": 0-100, ..., "rank": 0-100, "times_matched": n, "explanations"}.

    Held as columns in catalog order (`percentile[name]`, `rank`, `times_matched`, all (n,));
    an entry, with its explanation texts, is made when it is read. Search reads `rank` as a
    column, pages read the few entries they show.
    """

    def __init__(self, signals: CatalogSignals, artifact_of: Callable[[str], Artifact],
                 percentile: dict[str, np.ndarray], graph_rank: np.ndarray,
                 times_matched: np.ndarray, config: dict, now: datetime):
        self.signals = signals
        self.percentile = percentile
        self.graph_rank = graph_rank
        self.times_matched = times_matched
        self._artifact_of = artifact_of
        self._conf = config["scores"]
        self._now = now
        weights = self._conf["weights"]
        total = np.zeros(len(signals.ids))
        for name in SUBSCORES:  # the same order of float operations as a per-artifact sum
            total = total + weights[name] * percentile[name]
        # rint rounds ties to even on the exact binary value, as Python's round does
        self.rank = np.rint(total / (sum(weights.values()) or 1.0)).astype(np.int64)

    @cached_property
    def ranks(self) -> dict[str, int]:
        """artifact id -> rank, for callers that look ranks up by id."""
        return dict(zip(self.signals.ids, self.rank.tolist()))

    def most_matched(self, limit: int) -> list[str]:
        """Ids of the `limit` artifacts matched most often, ties by id (unmatched ones last)."""
        counts = self.times_matched
        matched = np.flatnonzero(counts)
        if len(matched) > limit:  # a partial sort first: only those that can make the cut
            cut = np.partition(counts[matched], len(matched) - limit)[len(matched) - limit]
            matched = matched[counts[matched] >= cut]
        ids = self.signals.ids
        top = sorted((-int(counts[i]), ids[i]) for i in matched)[:limit]
        if len(top) < limit:
            top += [(0, a) for a in heapq.nsmallest(limit - len(top), (ids[i] for i in np.flatnonzero(counts == 0)))]
        return [a for _, a in top]

    def __len__(self) -> int:
        return len(self.signals.ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.signals.ids)

    def __contains__(self, artifact_id: object) -> bool:
        return artifact_id in self.signals.position

    def __getitem__(self, artifact_id: str) -> dict:
        i = self.signals.position[artifact_id]
        artifact = self._artifact_of(artifact_id)
        prior = float(self._conf["neutral_prior"])
        texts = {name: fn(artifact)[1] for name, fn in CATALOG_SIGNALS}
        texts["freshness"] = freshness_of(artifact, self._now)[1]
        matched = int(self.times_matched[i])
        has_graph = not np.isnan(self._graph_raw[i])
        texts["match_graph"] = (f"PageRank {self.graph_rank[i]:.5f} over the query-artifact graph; "
                                f"matched {matched} time(s)") if has_graph else "not matched by any query yet"
        missing = {name: np.isnan(self.signals.raw[name][i]) for name in self.signals.raw}
        missing["match_graph"] = not has_graph
        explanations = {name: texts[name] + (f": neutral prior {prior:g}" if missing[name] else "")
                        for name in SUBSCORES}
        weights = self._conf["weights"]
        explanations["rank"] = " + ".join(f"{weights[n]:g}×{n}" for n in SUBSCORES)
        entry = {name: round(float(self.percentile[name][i])) for name in SUBSCORES}
        entry["rank"] = int(self.rank[i])
        entry["times_matched"] = matched
        entry["explanations"] = explanations
        return entry

    @cached_property
    def _graph_raw(self) -> np.ndarray:
        return match_graph_raw(self.graph_rank, self.times_matched)


def match_graph_raw(graph_rank: np.ndarray, times_matched: np.ndarray) -> np.ndarray:
    """log PageRank where the artifact was matched and has standing, else NaN (no signal)."""
    has = (times_matched > 0) & (graph_rank > 0)
    out = np.full(len(graph_rank), np.nan)
    out[has] = np.log(graph_rank[has])
    return out


def compute_scores(artifacts: list[Artifact], graph_rank: np.ndarray, times_matched: dict[str, int],
                   config: dict, now: datetime | None = None, signals: CatalogSignals | None = None,
                   artifact_of: Callable[[str], Artifact] | None = None) -> Scores:
    """Scores for the catalog (see `Scores`); O(n log n) in numpy apart from `catalog_signals`.

    `graph_rank` is (n_artifacts,) in catalog order: the match-graph standing (PageRank), 0 when
    the artifact has no edge. `signals` from a previous call on the same catalog skips the pass
    over the artifacts (a refresh after new events). `artifact_of` looks an artifact up by id
    (default: from `artifacts`).
    """
    prior = float(config["scores"]["neutral_prior"])
    now = now or datetime.now(timezone.utc)
    signals = signals or catalog_signals(artifacts, prior, now)
    matched = np.zeros(len(signals.ids), dtype=np.int64)
    at = np.fromiter((signals.position.get(a, -1) for a in times_matched), np.int64, len(times_matched))
    counts = np.fromiter(times_matched.values(), np.int64, len(times_matched))
    known = at >= 0  # events of artifacts removed from the catalog stay stored
    matched[at[known]] = counts[known]
    graph_rank = np.asarray(graph_rank, dtype=np.float64)
    percentile = dict(signals.percentile)
    percentile["match_graph"] = percentiles(match_graph_raw(graph_rank, matched), prior)
    if artifact_of is None:
        artifact_of = lambda artifact_id: artifacts[signals.position[artifact_id]]  # noqa: E731
    return Scores(signals, artifact_of, percentile, graph_rank, matched, config, now)
