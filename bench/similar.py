"""How often "similar artifacts" do the same kind of thing: on each labeled set, the share of an
artifact's top-5 similar artifacts that share its task (catalog field `task`), over every artifact
of the catalog that has a task and at least one other artifact of it.

    python bench/similar.py [--sets gorilla-hf,seal-tools] [--cache-home DIR] [-k 5] [--log]

Uses the indexed homes bench/common.py keeps under --cache-home (indexed here when missing).
With --log the set's train log is ingested into a copy first, so shared queries count too.
Also prints the mean time per lookup.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
from common import CACHE, set_files, set_names, working_engine

from matchgraph import Engine
from matchgraph.search.similar import similar_artifacts


def task_share(engine: Engine, k: int) -> tuple[float, int, float]:
    """(mean share of the top-k similar sharing the task, artifacts measured, ms per lookup)."""
    state = engine.state
    artifacts = state.index.artifacts
    sizes = Counter((a.task or "").lower() for a in artifacts)
    shares, started = [], time.perf_counter()
    measured = [a for a in artifacts if a.task and sizes[a.task.lower()] > 1]
    for artifact in measured:
        top = similar_artifacts(state.index, state.graph, artifact, k)
        same = [state.index.artifact(s.artifact_id).task == artifact.task for s in top]
        shares.append(sum(same) / k)
    elapsed = (time.perf_counter() - started) * 1000 / max(len(measured), 1)
    return float(np.mean(shares)), len(measured), elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=None)
    parser.add_argument("--cache-home", default=str(CACHE))
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--log", action="store_true", help="ingest the set's train log first")
    args = parser.parse_args(argv)
    print(f"| set | artifacts measured | top-{args.k} similar sharing the task | ms per lookup |")
    print("|---|---|---|---|")
    for name in set_names(args.sets):
        label, files = set_files(name, "dev")
        with working_engine(Path(args.cache_home), label, files, args.log, "mg-similar-") as engine:
            share, n, ms = task_share(engine, args.k)
        print(f"| {label}{' (with log)' if args.log else ''} | {n} | {share:.3f} | {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
