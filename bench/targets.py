"""Issue 17's targets, checked on one set's bench/quality.py figures (printed after its table).

- item 3, the log never hurts: with the log, MRR@10 and coverage@10 of every group (all, warm, cold)
  at least those without it, less SLACK;
- item 4, multi-need requests: coverage@10 at least COVERAGE_MARGIN above the best baseline's,
  without events and with the log;
- item 5, cold ranking: MRR@10 without events at least MRR_MARGIN above the best baseline's.

The baselines are the systems that use the catalog alone (BM25, dense, RRF, txtai when run); the
log-only vote is a peer of the warm run, not a baseline of the cold one.
"""

from __future__ import annotations

SLACK = 0.005
COVERAGE_MARGIN = 0.05
MRR_MARGIN = 0.02
# The systems' names in bench/quality.py's results (it takes them from here).
COLD, WARM, TXTAI = "matchgraph cold (no events)", "matchgraph warm (train log)", "txtai hybrid"
BASELINES = ("BM25 (bm25s)", "dense (FAISS flat)", "BM25 + dense, RRF k=60", TXTAI)


def _figure(results: dict, system: str, group: str, key: str) -> float | None:
    report = results.get(system, {})
    m = report.get("overall") if group == "all" else report.get("groups", {}).get(group)
    return None if m is None else m.get(key)


def check(results: dict[str, dict]) -> list[dict]:
    """[{"item", "what", "value", "target", "met"}] for one set's results by system; a figure
    the set has no requests for (coverage without multi-need requests, a group without requests)
    is left out."""
    out = []
    for group in ("all", "warm", "cold"):
        for key in ("mrr@10", "coverage@10"):
            with_log, without = _figure(results, WARM, group, key), _figure(results, COLD, group, key)
            if with_log is not None and without is not None:
                change = with_log - without
                out.append({"item": 3, "what": f"{key} with the log - without, {group}", "value": change,
                            "target": -SLACK, "met": change >= -SLACK})
    margins = (("coverage@10", 4, COVERAGE_MARGIN, COLD), ("coverage@10", 4, COVERAGE_MARGIN, WARM),
               ("mrr@10", 5, MRR_MARGIN, COLD))
    for key, item, margin, system in margins:
        ours = _figure(results, system, "all", key)
        base = {b: _figure(results, b, "all", key) for b in BASELINES}
        base = {b: v for b, v in base.items() if v is not None}
        if ours is not None and base:
            best = max(base, key=base.get)
            out.append({"item": item, "what": f"{key}, {system} - best baseline ({best})",
                        "value": ours - base[best], "target": margin, "met": ours - base[best] >= margin})
    return out


def table(checks: list[dict]) -> str:
    """Markdown: one row per check."""
    lines = ["| item | figure | value | target | met |", "|---|---|---|---|---|"]
    lines += [f"| {c['item']} | {c['what']} | {c['value']:+.3f} | {c['target']:+.3f} | "
              f"{'yes' if c['met'] else '**no**'} |" for c in checks]
    return "\n".join(lines)
