"""Dev figures of several settings on one set, with the train log and without it, in one process.

    python bench/ablate.py --set seal-tools --settings '{"defaults": {}, "w_task 0": {"w_task": 0}}'
                           [--cache-home DIR] [--split dev]

Each setting is a dict of config `search` overrides. The set's indexed home comes from
bench/common.py's cached_home; a copy of it gets the train log ingested (kept under --work between runs,
so a second run fits nothing it fitted before), a second copy stays without events. Every request
and part is encoded once (bench/common.py's QueryVectors), so a setting costs seconds: this is how
the issue-17 ablations in BENCHMARKS.md were taken. Prints MRR@10 / coverage@10, all, warm and cold.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from common import CACHE, QueryVectors, cached_home, read_rows, set_files

from matchgraph import Engine


def figures(report: dict) -> str:
    def cell(m: dict | None) -> str:
        if not m:
            return "-"
        cov = "-" if m["coverage@10"] is None else f"{m['coverage@10']:.3f}"
        return f"{m['mrr@10']:.3f} / {cov}"
    groups = report.get("groups", {})
    return f"| {cell(report['overall'])} | {cell(groups.get('warm'))} | {cell(groups.get('cold'))} |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True)
    parser.add_argument("--settings", default='{"defaults": {}}')
    parser.add_argument("--split", default="dev")
    parser.add_argument("--cache-home", default=str(CACHE))
    parser.add_argument("--work", default="/tmp/mg-ablate")
    args = parser.parse_args(argv)
    label, files = set_files(args.set, args.split)
    base = cached_home(Path(args.cache_home), label, files)
    homes = {"no events": Path(args.work) / f"{label}-clean", "train log": Path(args.work) / f"{label}-log"}
    for run, home in homes.items():
        if not home.exists():
            shutil.copytree(base, home)
            if run == "train log":
                engine = Engine(home)
                engine.ingest(files["train"])
                engine.close()
    vectors = QueryVectors()
    vectors.install()
    vectors.add(base, [row["query"] for row in read_rows(files["queries"])])
    print(f"{label} {args.split}: MRR@10 / coverage@10\n")
    print("| setting | events | all | warm | cold |\n|---|---|---|---|---|")
    for name, settings in json.loads(args.settings).items():
        for run, home in homes.items():
            engine = Engine(home, overrides={"search": settings})
            print(f"| {name} | {run} " + figures(engine.evaluate(files["queries"], 10)), flush=True)
            engine.close()


if __name__ == "__main__":
    main()
