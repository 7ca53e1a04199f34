"""Make a second held-out set from the train log, split the way dev was split from the whole.

    python bench/pseudo_split.py OUT_DIR [--train T] [--seed 7]
    python bench/quality.py --queries OUT_DIR/queries.jsonl --train OUT_DIR/log.jsonl --no-txtai

Per model in the train log: with two or more requests, one (seeded) is held out as "warm"; with
one request, it is held out as "cold" (the model then has no request in the remaining log). The
rest is the log. Nothing here is tuned: it checks that figures measured on dev hold on requests
the settings were chosen on only as part of a larger log.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

from common import GORILLA, read_rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", default=str(GORILLA / "queries-train.jsonl"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rows = read_rows(args.train)
    by_model: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_model[row["artifact_id"]].append(i)
    rng = random.Random(args.seed)
    held: dict[int, str] = {}
    for model in sorted(by_model):
        positions = by_model[model]
        held[rng.choice(positions)] = "warm" if len(positions) >= 2 else "cold"
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "queries.jsonl", "w") as queries, open(args.out / "log.jsonl", "w") as log:
        for i, row in enumerate(rows):
            if i in held:
                queries.write(json.dumps({"query": row["query"], "artifact_id": row["artifact_id"],
                                          "history": held[i]}) + "\n")
            else:
                log.write(json.dumps(row) + "\n")
    groups = list(held.values())
    print(f"{len(held)} held out ({groups.count('warm')} warm, {groups.count('cold')} cold), "
          f"{len(rows) - len(held)} in the log")


if __name__ == "__main__":
    main()
