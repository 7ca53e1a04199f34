"""One default configuration for every domain, chosen on train splits only (never on dev).

    python bench/crossval.py [--sets gorilla-hf,seal-tools] [--folds 3] [--seed 0]
                             [--cache-home DIR] [--json OUT]

For each set, its train requests (queries-train.jsonl: the search log, one select per (request,
artifact)) are grouped by request and split into folds. Per fold the other folds are ingested as
the log into a copy of the set's indexed home (bench/common.py's cached_home) and the fold's requests
are evaluated with no log ("cold ranking") and with it, for every candidate setting (GRID: one
adapter fit per fold and fit setting; the weights only re-rank). A held-out request is warm when
one of its artifacts is in the fold's log, cold otherwise.

The choice is made across sets, so a setting that only fits one domain loses:
  1. the log never hurts: in every set, warm and cold groups, MRR@10 and coverage@10 with the log
     at least those of the same setting without it, less SLACK (0.005), averaged over folds;
  2. among those, the best mean over sets of (MRR@10 + coverage@10) with the log.
It also prints, per held-out set, the setting the other sets alone would choose and its figures on
the held-out set (leave-one-set-out), to show whether the choice carries to an unseen domain.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import CACHE, QueryVectors, cached_home, set_files, set_names
from targets import SLACK

from matchgraph import Engine
from matchgraph.search.evaluate import LabeledQuery, report

# Candidate settings (config `search` overrides). Fit settings (adapter_*) change the adapter fit;
# the rest only re-rank. The first is the defaults before issue 17 (the whole text of a request naming
# several actions is ranked without history in every setting: that is code, not a setting).
GRID: dict[str, dict] = {
    "before issue 17 (whole log, no split)": {"adapter_split_needs": False, "needs_min_parts": 0},
    "defaults": {},
    "w_task 0.3": {"w_task": 0.3},
    "w_task 0": {"w_task": 0.0},
    "w_offsets 1": {"w_offsets": 1.0},
    "w_adapter 0.5": {"w_adapter": 0.5},
}
GROUPS = ("warm", "cold")
KEYS = ("mrr@10", "coverage@10")


def requests_of(train: Path) -> list[dict]:
    """Train events grouped by request text: [{"query", "artifact_ids", "events"}] in file order."""
    by_query: dict[str, dict] = {}
    for line in train.read_text().splitlines():
        if line.strip():
            event = json.loads(line)
            item = by_query.setdefault(event["query"], {"query": event["query"], "artifact_ids": [],
                                                        "events": []})
            item["artifact_ids"].append(event["artifact_id"])
            item["events"].append(line)
    return list(by_query.values())


HISTORY_KEYS = ("adapter_", "w_task", "w_offsets", "w_adapter", "graph_", "task_evidence")


def rank_all(home: Path, settings: dict, labeled: list[LabeledQuery]) -> list[list[str]]:
    engine = Engine(home, overrides={"search": settings})
    ranked = [[r.artifact_id for r in engine.search(q.query, k=10, record=False).results] for q in labeled]
    engine.close()
    return ranked


def evaluate_fold(base: Path, work: Path, held: list[dict], log: list[dict], grid: dict[str, dict]) -> dict:
    """{setting: {"none": report, "log": report}} for the held-out requests of one fold; `base`
    is the set's indexed home (copied twice into `work`: one without events, one with the log)."""
    logged = {a for item in log for a in item["artifact_ids"]}
    labeled = [LabeledQuery(query=item["query"], artifact_ids=sorted(set(item["artifact_ids"])),
                            history="warm" if logged & set(item["artifact_ids"]) else "cold")
               for item in held]
    clean, with_log = work / "clean", work / "log"
    for home in (clean, with_log):
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(base, home)
    log_file = work / "fold-log.jsonl"
    log_file.write_text("\n".join(line for item in log for line in item["events"]) + "\n")
    engine = Engine(with_log)
    engine.ingest(log_file)
    engine.close()
    out, cold_cache = {}, {}
    for name, settings in grid.items():
        cold_key = json.dumps({k: v for k, v in sorted(settings.items()) if not k.startswith(HISTORY_KEYS)})
        if cold_key not in cold_cache:
            cold_cache[cold_key] = rank_all(clean, settings, labeled)
        zeros = [0.0] * len(labeled)
        out[name] = {"none": report(cold_cache[cold_key], zeros, labeled),
                     "log": report(rank_all(with_log, settings, labeled), zeros, labeled)}
        print(f"  {name}: log MRR@10 {out[name]['log']['overall']['mrr@10']:.3f} "
              f"cov@10 {out[name]['log']['overall']['coverage@10']} | none MRR@10 "
              f"{out[name]['none']['overall']['mrr@10']:.3f}", file=sys.stderr, flush=True)
    return out


def mean_figures(folds: list[dict]) -> dict:
    """Fold reports of one setting averaged: {("log"|"none", group, key): value}; group "all" is
    overall; a coverage of None (no multi-answer request) is left out of the mean."""
    out = {}
    for run in ("none", "log"):
        for group in ("all",) + GROUPS:
            for key in KEYS:
                values = [(f[run]["overall"] if group == "all" else f[run].get("groups", {}).get(group, {})).get(key)
                          for f in folds]
                values = [v for v in values if v is not None]
                out[(run, group, key)] = float(np.mean(values)) if values else None
    return out


def never_hurts(fig: dict) -> bool:
    """With the log, every group's MRR@10 and coverage@10 at least those without it, less SLACK."""
    return all(fig[("log", g, k)] is None or fig[("none", g, k)] is None
               or fig[("log", g, k)] >= fig[("none", g, k)] - SLACK for g in GROUPS for k in KEYS)


def objective(fig: dict) -> float:
    return fig[("log", "all", "mrr@10")] + (fig[("log", "all", "coverage@10")] or 0.0)


def choose(by_set: dict[str, dict[str, dict]], sets: list[str]) -> str | None:
    """The setting that never hurts on `sets` and has the best mean objective over them."""
    fine = [name for name in by_set[sets[0]] if all(never_hurts(by_set[s][name]) for s in sets)]
    return max(fine, key=lambda n: np.mean([objective(by_set[s][n]) for s in sets]), default=None)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=None)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-home", default=str(CACHE))
    parser.add_argument("--only", help="comma-separated GRID names to run (default all)")
    parser.add_argument("--json", help="write the per-set, per-setting fold means here")
    args = parser.parse_args(argv)
    grid = {n: GRID[n] for n in args.only.split(",")} if args.only else GRID
    names = set_names(args.sets)
    by_set: dict[str, dict[str, dict]] = {}
    vectors = QueryVectors()
    vectors.install()
    for name in names:
        label, files = set_files(name.strip(), "dev")
        base = cached_home(Path(args.cache_home), label, files)
        requests = requests_of(files["train"])
        vectors.add(base, [r["query"] for r in requests])
        random.Random(args.seed).shuffle(requests)
        fold_results = []
        with tempfile.TemporaryDirectory(prefix="mg-crossval-") as tmp:
            for fold in range(args.folds):
                held = requests[fold::args.folds]
                log = [r for i, r in enumerate(requests) if i % args.folds != fold]
                print(f"== {label} fold {fold + 1}/{args.folds}: {len(held)} held out, {len(log)} in the log",
                      file=sys.stderr, flush=True)
                fold_results.append(evaluate_fold(base, Path(tmp), held, log, grid))
        by_set[label] = {n: mean_figures([f[n] for f in fold_results]) for n in grid}

    sets = list(by_set)
    print(f"Train {args.folds}-fold means per set (with the log / without; warm and cold MRR@10 change):\n")
    print("| setting | set | MRR@10 log / none | cov@10 log / none | warm MRR@10 +- | cold MRR@10 +- "
          "| warm cov +- | cold cov +- | never hurts |")
    print("|" + "---|" * 9)
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    delta = lambda f, g, k: "-" if f[("log", g, k)] is None or f[("none", g, k)] is None \
        else f"{f[('log', g, k)] - f[('none', g, k)]:+.3f}"
    for name in grid:
        for s in sets:
            f = by_set[s][name]
            print(f"| {name} | {s} | {fmt(f[('log', 'all', 'mrr@10')])} / {fmt(f[('none', 'all', 'mrr@10')])} "
                  f"| {fmt(f[('log', 'all', 'coverage@10')])} / {fmt(f[('none', 'all', 'coverage@10')])} "
                  f"| {delta(f, 'warm', 'mrr@10')} | {delta(f, 'cold', 'mrr@10')} "
                  f"| {delta(f, 'warm', 'coverage@10')} | {delta(f, 'cold', 'coverage@10')} "
                  f"| {'yes' if never_hurts(f) else 'no'} |")
    print(f"\nchosen on all sets: {choose(by_set, sets)}")
    for held_out in sets if len(sets) > 1 else []:
        others = [s for s in sets if s != held_out]
        pick = choose(by_set, others)
        if pick:
            f = by_set[held_out][pick]
            print(f"leave {held_out} out: the other sets choose '{pick}'; on {held_out}: objective "
                  f"{objective(f):.3f}, never hurts: {'yes' if never_hurts(f) else 'no'}")
    if args.json:
        Path(args.json).write_text(json.dumps({s: {n: {"|".join(k): v for k, v in f.items()}
                                                    for n, f in by_set[s].items()} for s in sets}, indent=2))


if __name__ == "__main__":
    main()
