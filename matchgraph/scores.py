"""Scores 0-100 per artifact, each with the inputs that explain it, and the composite rank.

Each sub-score is the percentile, within the catalog, of a log-scaled raw value. An artifact
lacking the signal gets `scores.neutral_prior` (default 50: "no evidence either way"), stated
in its explanation, never a silent zero. Defaults of `scores.weights`: adoption 0.3, quality
0.2, ecosystem 0.2, match_graph 0.2, freshness 0.1.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from .catalog import Artifact

SUBSCORES = ("adoption", "quality", "ecosystem", "match_graph", "freshness")
OPEN_LICENCES = ("apache", "mit", "bsd", "cc-by", "cc0", "openrail", "gpl", "lgpl", "mpl", "unlicense")


def _percentiles(raw: list[float | None], prior: float) -> list[float]:
    """Percentile rank (0-100, ties share the mean rank) of each present value; None -> prior."""
    present = sorted(v for v in raw if v is not None)
    out = []
    for value in raw:
        if value is None:
            out.append(prior)
        elif len(present) == 1:
            out.append(100.0)
        else:
            below = np.searchsorted(present, value, side="left")
            equal = np.searchsorted(present, value, side="right") - below
            out.append(100.0 * (below + (equal - 1) / 2) / (len(present) - 1))
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


def _freshness(a: Artifact, now: datetime) -> tuple[float | None, str]:
    for key in ("updated_at", "released_at"):
        value = a.signals.get(key)
        if not value:
            continue
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        days = max(0.0, (now - when).total_seconds() / 86400)
        return -math.log1p(days), f"{key} {value} ({int(days)} days ago)"
    return None, "no updated_at or released_at"


def compute_scores(artifacts: list[Artifact], graph_rank: np.ndarray, times_matched: dict[str, int],
                   config: dict, now: datetime | None = None) -> dict[str, dict]:
    """artifact id -> {"adoption": 0-100, ..., "rank": 0-100, "times_matched": n, "explanations": {...}}.

    `graph_rank` is (n_artifacts,) in catalog order: the match-graph standing (PageRank), 0 when
    the artifact has no edge.
    """
    conf = config["scores"]
    prior = float(conf["neutral_prior"])
    weights = conf["weights"]
    now = now or datetime.now(timezone.utc)
    raw: dict[str, list] = {name: [] for name in SUBSCORES}
    why: dict[str, list] = {name: [] for name in SUBSCORES}
    for i, a in enumerate(artifacts):
        for name, fn in (("adoption", _adoption), ("quality", _quality), ("ecosystem", _ecosystem)):
            value, text = fn(a)
            raw[name].append(value)
            why[name].append(text)
        value, text = _freshness(a, now)
        raw["freshness"].append(value)
        why["freshness"].append(text)
        matched = times_matched.get(a.id, 0)
        if matched and graph_rank[i] > 0:
            raw["match_graph"].append(math.log(graph_rank[i]))
            why["match_graph"].append(f"PageRank {graph_rank[i]:.5f} over the query-artifact graph; "
                                      f"matched {matched} time(s)")
        else:
            raw["match_graph"].append(None)
            why["match_graph"].append("not matched by any query yet")
    pct = {name: _percentiles(raw[name], prior) for name in SUBSCORES}
    total_weight = sum(weights.values()) or 1.0
    out: dict[str, dict] = {}
    for i, a in enumerate(artifacts):
        entry = {name: round(pct[name][i]) for name in SUBSCORES}
        explanations = {}
        for name in SUBSCORES:
            note = why[name][i]
            if raw[name][i] is None:
                note += f": neutral prior {prior:g}"
            explanations[name] = note
        entry["rank"] = round(sum(weights[n] * pct[n][i] for n in SUBSCORES) / total_weight)
        explanations["rank"] = " + ".join(f"{weights[n]:g}×{n}" for n in SUBSCORES)
        entry["times_matched"] = times_matched.get(a.id, 0)
        entry["explanations"] = explanations
        out[a.id] = entry
    return out
