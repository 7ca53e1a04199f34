"""Catalog signals: what an artifact's own record says about it (adoption, quality, ecosystem,
freshness), as raw values and percentiles within the catalog.

They depend on the catalog only, so an index build stores the raw values with the version
(`signal_row`, `SIGNAL_COLUMNS`) and a load turns them into percentiles once; graph/scores.py combines
them with the match-graph score into the composite rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .catalog import Artifact

OPEN_LICENCES = ("apache", "mit", "bsd", "cc-by", "cc0", "openrail", "gpl", "lgpl", "mpl", "unlicense")


def percentiles(raw: np.ndarray, prior: float) -> np.ndarray:
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


def freshness_of(a: Artifact, now: datetime) -> tuple[float | None, str]:
    dated = _dated(a)
    if dated is None:
        return None, "no updated_at or released_at"
    key, value, when = dated
    days = max(0.0, (now - when).total_seconds() / 86400)
    return -math.log1p(days), f"{key} {value} ({int(days)} days ago)"


CATALOG_SIGNALS = (("adoption", _adoption), ("quality", _quality), ("ecosystem", _ecosystem))
SIGNAL_COLUMNS = (*(name for name, _ in CATALOG_SIGNALS), "fresh_at")  # stored with an index version


def _fresh_at(a: Artifact) -> float:
    """POSIX time of the date freshness_of reads (NaN: none): stored with the index version, the
    freshness of any `now` follows from it without the record."""
    dated = _dated(a)
    return dated[2].timestamp() if dated is not None else float("nan")


def signal_row(a: Artifact) -> tuple[float, ...]:
    """An artifact's SIGNAL_COLUMNS: the raw catalog signals (NaN: missing) and its date's time;
    an index build stores them (retrieval/index_build.py) so that a load never parses every record."""
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
                          raw=raw, percentile={name: percentiles(raw[name], prior) for name in raw})


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
    fns = (*CATALOG_SIGNALS, ("freshness", lambda a: freshness_of(a, now)))
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
                          raw=raw, percentile={name: percentiles(raw[name], prior) for name in raw})
