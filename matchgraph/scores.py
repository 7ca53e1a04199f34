"""Scores 0-100 per artifact, each with the inputs that explain it, and the composite rank.

Each sub-score is the percentile, within the catalog, of a log-scaled raw value. An artifact
lacking the signal gets `scores.neutral_prior` (default 50: "no evidence either way"), stated
in its explanation, never a silent zero. Defaults of `scores.weights`: adoption 0.3, quality
0.2, ecosystem 0.2, match_graph 0.2, freshness 0.1.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Callable, Iterator

import numpy as np

from .catalog import Artifact

SUBSCORES = ("adoption", "quality", "ecosystem", "match_graph", "freshness")
OPEN_LICENCES = ("apache", "mit", "bsd", "cc-by", "cc0", "openrail", "gpl", "lgpl", "mpl", "unlicense")


def _percentiles(raw: np.ndarray, prior: float) -> np.ndarray:
    """Percentile rank (0-100, ties share the mean rank) of each present value; NaN -> prior.

    `raw` is (n,) float64 with NaN for "no signal". Two binary searches over the sorted present
    values for all of them at once: O(n log n) for the catalog (a per-value search over a Python
    list made a 100,000-artifact load take minutes).
    """
    raw = np.asarray(raw, dtype=np.float64)
    missing = np.isnan(raw)
    present = np.sort(raw[~missing])
    out = np.full(raw.shape, float(prior))
    if len(present) == 1:
        out[~missing] = 100.0
    elif len(present) > 1:
        values = raw[~missing]
        below = np.searchsorted(present, values, side="left")
        equal = np.searchsorted(present, values, side="right") - below
        out[~missing] = 100.0 * (below + (equal - 1) / 2) / (len(present) - 1)
    return out


def _adoption(a: Artifact) -> tuple[float | None, str]:
    s = a.signals
    parts = {k: s[k] for k in ("downloads", "likes", "stars") if isinstance(s.get(k), (int, float))}
    if not parts:
        return None, "no downloads, likes or stars"
    raw = math.log1p(parts.get("downloads", 0)) + 2 * math.log1p(parts.get("likes", 0)) \
        + 2 * math.log1p(parts.get("stars", 0))
    return raw, ", ".join(f"{k} {v:,}" for k, v in parts.items())


def _quality(a: Artifact) -> tuple[float | None, str]:
    s = a.signals
    bench = {k: v for k, v in (s.get("benchmarks") or {}).items() if isinstance(v, (int, float))}
    reviews = s.get("reviews") or {}
    parts, why = [], []
    if bench:
        # Benchmarks use different scales: values in 0..1 are fractions, larger ones percentages.
        values = [v if v <= 1 else v / 100 for v in bench.values() if 0 <= v <= 100]
        if values:
            parts.append(float(np.mean(values)))
            why.append(f"{len(values)} benchmark(s), mean {np.mean(values):.2f}")
    if isinstance(reviews.get("mean"), (int, float)) and reviews.get("count"):
        # Shrink the review mean towards 3/5 when there are few reviews.
        count = float(reviews["count"])
        mean = (reviews["mean"] * count + 3.0 * 5) / (count + 5)
        parts.append(mean / 5)
        why.append(f"{int(count)} reviews, mean {reviews['mean']}/5")
    if not parts:
        return None, "no benchmarks or reviews"
    return float(np.mean(parts)), "; ".join(why)


def _ecosystem(a: Artifact) -> tuple[float | None, str]:
    integrations = a.signals.get("integrations") or []
    licence = (a.license or "").lower()
    open_licence = any(tag in licence for tag in OPEN_LICENCES)
    if not integrations and not a.license:
        return None, "no integrations or licence listed"
    raw = math.log1p(len(integrations)) + (0.5 if open_licence else 0.0)
    licence_note = f"open licence ({a.license})" if open_licence else f"licence {a.license or 'unknown'}"
    return raw, f"{len(integrations)} integration(s); {licence_note}"


def _dated(a: Artifact) -> tuple[str, object, datetime] | None:
    """(key, value, when) of the first readable updated_at / released_at signal; None: none."""
    for key in ("updated_at", "released_at"):
        value = a.signals.get(key)
        if not value:
            continue
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            continue
        return key, value, when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return None


def _freshness(a: Artifact, now: datetime) -> tuple[float | None, str]:
    dated = _dated(a)
    if dated is None:
        return None, "no updated_at or released_at"
    key, value, when = dated
    days = max(0.0, (now - when).total_seconds() / 86400)
    return -math.log1p(days), f"{key} {value} ({int(days)} days ago)"


CATALOG_SIGNALS = (("adoption", _adoption), ("quality", _quality), ("ecosystem", _ecosystem))
SIGNAL_COLUMNS = (*(name for name, _ in CATALOG_SIGNALS), "fresh_at")  # stored with an index version


def _fresh_at(a: Artifact) -> float:
    """POSIX time of the date _freshness reads (NaN: none): stored with the index version, the
    freshness of any `now` follows from it without the record."""
    dated = _dated(a)
    return dated[2].timestamp() if dated is not None else float("nan")


def signal_row(a: Artifact) -> tuple[float, ...]:
    """An artifact's SIGNAL_COLUMNS: the raw catalog signals (NaN: missing) and its date's time;
    an index build stores them (index_build.py) so that a load never parses every record."""
    raw = tuple(np.nan if (v := fn(a)[0]) is None else float(v) for _, fn in CATALOG_SIGNALS)
    return (*raw, _fresh_at(a))


def stored_catalog_signals(ids: list[str], columns: dict[str, np.ndarray], prior: float,
                           now: datetime) -> CatalogSignals:
    """catalog_signals from the columns stored with the index version (signal_row): the same
    raw values and percentiles, freshness computed for `now` from the stored times."""
    raw = {name: np.asarray(columns[name], dtype=np.float64) for name, _ in CATALOG_SIGNALS}
    days = np.maximum(0.0, (now.timestamp() - np.asarray(columns["fresh_at"], dtype=np.float64)) / 86400)
    raw["freshness"] = -np.log1p(days)  # NaN stays NaN: no date
    return CatalogSignals(ids=ids, position={aid: i for i, aid in enumerate(ids)},
                          raw=raw, percentile={name: _percentiles(raw[name], prior) for name in raw})


@dataclass(frozen=True)
class CatalogSignals:
    """The sub-scores that depend on the catalog only: computed once per index version, so a
    refresh after new events recomputes only the match-graph score and the rank.

    `raw[name]` is (n_artifacts,) float64 in catalog order, NaN where the signal is missing;
    `percentile[name]` the same as 0-100 percentiles (missing -> the neutral prior).
    """

    ids: list[str]
    position: dict[str, int]
    raw: dict[str, np.ndarray]
    percentile: dict[str, np.ndarray]


def catalog_signals(artifacts: list[Artifact], prior: float, now: datetime | None = None
                    ) -> CatalogSignals:
    """One pass over the catalog. Freshness percentiles do not move with `now` (the raw value is
    monotone in the date), so they are computed once too; the explanation's "days ago" is not."""
    now = now or datetime.now(timezone.utc)
    fns = (*CATALOG_SIGNALS, ("freshness", lambda a: _freshness(a, now)))
    # One pass: an index version's artifacts are parsed from catalog.jsonl as they are iterated,
    # and a pass per signal parsed 100,000 records six times (~20 s of a first load).
    ids: list[str] = []
    values: list[list[float]] = [[] for _ in fns]
    for a in artifacts:
        ids.append(a.id)
        for column, (_, fn) in zip(values, fns):
            column.append(np.nan if (v := fn(a)[0]) is None else v)
    raw = {name: np.array(column, dtype=np.float64) for (name, _), column in zip(fns, values)}
    return CatalogSignals(ids=ids, position={aid: i for i, aid in enumerate(ids)},
                          raw=raw, percentile={name: _percentiles(raw[name], prior) for name in raw})


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
        texts["freshness"] = _freshness(artifact, self._now)[1]
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
    percentile["match_graph"] = _percentiles(match_graph_raw(graph_rank, matched), prior)
    if artifact_of is None:
        artifact_of = lambda artifact_id: artifacts[signals.position[artifact_id]]  # noqa: E731
    return Scores(signals, artifact_of, percentile, graph_rank, matched, config, now)
