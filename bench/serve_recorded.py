"""Recorded vs unrecorded searches through the real `matchgraph serve` on loopback.

Builds a home (demo catalog indexed, demo log ingested) unless --home is given, starts
`matchgraph serve` on it with the configured refresh and refit intervals, waits for /readyz,
then times N sequential searches with record=false and the same N queries recorded, and prints
p50 / p95 / max of each in milliseconds. Recording is allowed past the per-client budget
(MATCHGRAPH_SERVER__RECORD_PER_MINUTE) so that every timed search is stored.

    python bench/serve_recorded.py [--home DIR] [-n 30] [--port 8765] [--busy]

--busy sets graph.refresh_seconds 1 and search.adapter_refit_seconds 0: the server folds the
recorded searches into the graph and refits the adapter over and over while they are timed, to
show that requests do not wait for either (they share the CPU with it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MATCHGRAPH = str(Path(sys.executable).parent / "matchgraph")
QUERIES = ["read handwritten letters", "make a picture from a sentence", "transcribe a podcast episode",
           "translate a word document keeping formatting", "answer questions about a pdf",
           "detect objects in street photos", "summarize long reports", "clone a voice from a sample",
           "classify the sentiment of reviews", "separate speech from background music"]


def build_home(folder: Path, env: dict) -> Path:
    home = folder / "home"
    for args in (["index", "--catalog", str(ROOT / "fixtures" / "catalog")],
                 ["ingest", "--events", str(ROOT / "fixtures" / "demo-search-log.jsonl")]):
        subprocess.run([MATCHGRAPH, *args, "--home", str(home)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    return home


def timed(client: httpx.Client, queries: list[str], record: bool) -> list[float]:
    out = []
    for query in queries:
        start = time.perf_counter()
        r = client.get("/api/search", params={"q": query, "record": str(record).lower()})
        out.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
        assert r.json()["recorded"] is record, r.headers.get("X-Matchgraph-Not-Recorded")
    return out


def summary(name: str, ms: list[float]) -> str:
    ordered = sorted(ms)
    return (f"{name:<11} n={len(ms)}  p50 {statistics.median(ms):6.1f} ms  "
            f"p95 {ordered[int(0.95 * (len(ms) - 1))]:6.1f} ms  max {ordered[-1]:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="an indexed home (copied, never written)")
    parser.add_argument("-n", type=int, default=30, help="searches of each kind")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--busy", action="store_true", help="refresh every 1 s and refit at every refresh")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHGRAPH_")}
    env["MATCHGRAPH_SERVER__RECORD_PER_MINUTE"] = "100000"
    busy = {"MATCHGRAPH_GRAPH__REFRESH_SECONDS": "1", "MATCHGRAPH_SEARCH__ADAPTER_REFIT_SECONDS": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.home:
            home = Path(tmp) / "home"
            shutil.copytree(args.home, home)
        else:
            home = build_home(Path(tmp), env)
        queries = [f"{QUERIES[i % len(QUERIES)]} {i}" for i in range(args.n)]
        server = subprocess.Popen([MATCHGRAPH, "serve", "--home", str(home), "--host", "127.0.0.1",
                                   "--port", str(args.port)], env={**env, **(busy if args.busy else {})}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{args.port}"
        try:
            with httpx.Client(base_url=base, timeout=120) as client:
                deadline = time.monotonic() + 600
                while True:
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the server did not get ready")
                    time.sleep(0.5)
                timed(client, ["warm up the model"] * 3, record=False)
                unrecorded = timed(client, queries, record=False)
                recorded = timed(client, queries, record=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    mode = " (--busy: refresh 1 s, refit at every refresh)" if args.busy else ""
    print(f"matchgraph serve on loopback, {args.n} sequential searches each (same queries){mode}:")
    print(summary("unrecorded", unrecorded))
    print(summary("recorded", recorded))


if __name__ == "__main__":
    main()
