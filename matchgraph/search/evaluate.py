"""Evaluation on labeled queries: recall@1/5/10, MRR@10, nDCG@10, coverage@10 and latency, overall
and by history group."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.errors import ValidationFailed
from ..core.validation import read_models


class LabeledQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1)
    artifact_id: str | None = None
    artifact_ids: list[str] | None = None
    history: str | None = None

    @model_validator(mode="after")
    def _has_answer(self) -> "LabeledQuery":
        if not self.artifact_id and not self.artifact_ids:
            raise ValueError("needs artifact_id or artifact_ids")
        return self

    @property
    def answers(self) -> set[str]:
        return set(self.artifact_ids or []) | ({self.artifact_id} if self.artifact_id else set())


def read_labeled(path: str | Path) -> list[LabeledQuery]:
    """Parse a labeled JSONL file; every bad line is reported with its number."""
    path = Path(path)
    if not path.exists():
        raise ValidationFailed("queries", [f"{path}: no such file"])
    items, problems = read_models(path, LabeledQuery)
    if problems:
        raise ValidationFailed("labeled queries are invalid", problems)
    return items


def metrics(ranked: list[list[str]], answers: list[set[str]], latencies_ms: list[float]) -> dict:
    """Standard IR figures for ranked id lists against answer sets (binary relevance).

    `coverage@10` is over the requests with several answers only (`multi` of them): the mean share
    of their answers in the top 10 (a request that needs three APIs and finds two scores 0.667);
    None when no request has several. MRR and recall count a request as found at its first answer.
    """
    def recall(k: int) -> float:
        return float(np.mean([bool(set(r[:k]) & a) for r, a in zip(ranked, answers)])) if ranked else 0.0

    mrr, ndcg, coverage = [], [], []
    for r, a in zip(ranked, answers):
        if len(a) > 1:
            coverage.append(len(set(r[:10]) & a) / len(a))
        first = next((i for i, x in enumerate(r[:10]) if x in a), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
        dcg = sum(1.0 / math.log2(i + 2) for i, x in enumerate(r[:10]) if x in a)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(a), 10)))
        ndcg.append(dcg / ideal if ideal else 0.0)
    lat = np.array(latencies_ms) if latencies_ms else np.zeros(1)
    return {"queries": len(ranked), "recall@1": round(recall(1), 4), "recall@5": round(recall(5), 4),
            "recall@10": round(recall(10), 4), "mrr@10": round(float(np.mean(mrr or [0])), 4),
            "ndcg@10": round(float(np.mean(ndcg or [0])), 4),
            "coverage@10": round(float(np.mean(coverage)), 4) if coverage else None,
            "multi": len(coverage),
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 2),
                           "p95": round(float(np.percentile(lat, 95)), 2)}}


def evaluate(queries: Iterable[LabeledQuery], rank: Callable[[str], list[str]], k: int = 10) -> dict:
    """Run `rank(query) -> ids` for each labeled query; figures overall and per `history` group."""
    queries = list(queries)
    ranked, latencies = [], []
    for item in queries:
        start = time.perf_counter()
        ranked.append(rank(item.query)[:k])
        latencies.append((time.perf_counter() - start) * 1000)
    return report(ranked, latencies, queries)


def report(ranked: list[list[str]], latencies_ms: list[float], queries: list[LabeledQuery]) -> dict:
    """Figures for rankings already made (one id list per labeled query): overall and per
    `history` group, the shape `eval --json` prints."""
    out = {"overall": metrics(ranked, [q.answers for q in queries], latencies_ms)}
    groups = sorted({q.history for q in queries if q.history})
    if groups:
        out["groups"] = {}
        for group in groups:
            sel = [i for i, q in enumerate(queries) if q.history == group]
            out["groups"][group] = metrics([ranked[i] for i in sel], [queries[i].answers for i in sel],
                                           [latencies_ms[i] for i in sel])
    return out
