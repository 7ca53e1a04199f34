"""Profile one part of bench/scale.py on a home it made: the searches, or a refresh.

    python bench/scale_profile.py search  /tmp/matchgraph-scale/home-100000   # a home after `serve`
    python bench/scale_profile.py refresh /tmp/matchgraph-scale/home-1000000  # a home after `log`

`search`: the bench's 100 searches without query encoding under cProfile, then three timed
passes (p50 / p90 / p99, ms). `refresh`: a server's refresh after 1,000 new events whose new
requests are new to the graph (as bench/scale.py's graph phase makes them), twice, the second
under cProfile; the collector's pauses during each refresh are printed too. The home gets the
events: run it on a copy when the bench's figures must stay comparable.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import time
from pathlib import Path

import numpy as np
from scale import SEED, _log_items, _Precomputed

from matchgraph.engine.engine import Engine


def profile_search(engine: Engine, bench: dict) -> None:
    model = engine.state.index.manifest["model"]
    real = engine.embedder(model)
    searches = [t for t, _ in bench["searches"]]
    engine._embedders[model] = _Precomputed(real, dict(zip(searches, real._encode(searches))))
    engine.search(searches[0], record=False)
    profile = cProfile.Profile()
    profile.enable()
    for text in searches:
        engine.search(text, record=False)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    for _ in range(3):
        took = []
        for text in searches:
            started = time.perf_counter()
            engine.search(text, record=False)
            took.append((time.perf_counter() - started) * 1000)
        print("p50 / p90 / p99 (ms): " + " / ".join(f"{np.percentile(took, q):.2f}" for q in (50, 90, 99)))


def profile_refresh(engine: Engine, bench: dict) -> None:
    engine.embedder(engine.state.index.manifest["model"]).encode(["load the model, as a search would"])
    pauses: list[tuple[int, float]] = []

    def collector(phase: str, info: dict, started=[0.0]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], round(time.perf_counter() - started[0], 3)))

    gc.callbacks.append(collector)
    for attempt in range(2):
        run = time.time_ns()
        engine.add_events([{**item, "event_id": f"profile-{run}-{i}"} for i, item in
                           enumerate(_log_items(bench, 1000, SEED + 7, fresh=True, tag=f"p{run % 10**9}"))])
        engine.refresh_seconds = 1e-9  # due now
        profile = cProfile.Profile()
        pauses.clear()
        started = time.perf_counter()
        if attempt:
            profile.enable()
        engine.state
        profile.disable()
        print(f"refresh {time.perf_counter() - started:.3f} s; collector pauses over 10 ms: "
              f"{[p for p in pauses if p[1] > 0.01]}")
        engine.refresh_seconds = 3600
    gc.callbacks.remove(collector)
    pstats.Stats(profile).sort_stats("cumtime").print_stats(40)


PROFILES = {"search": profile_search, "refresh": profile_refresh}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=sorted(PROFILES), help="the part to profile")
    parser.add_argument("home", type=Path, help="a home bench/scale.py made (home-N under its --work)")
    args = parser.parse_args(argv)
    what, home = args.what, args.home
    bench = json.loads((home / "bench.json").read_text())
    engine = Engine(home, refresh_seconds=3600)
    started = time.perf_counter()
    engine.state
    print(f"load {time.perf_counter() - started:.1f} s")
    PROFILES[what](engine, bench)


if __name__ == "__main__":
    main()
