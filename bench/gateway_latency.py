"""What `matchgraph gateway` adds to a tool call: `call_tool` through the gateway against calling
the same server directly with the official SDK client, in the same run.

Both sides run the same tiny real server (tests/servers/toolbox.py, stdio) and call its
`add_numbers` tool; the calls alternate direct / gateway so that drift hits both alike. Each
call is timed from the client's `call_tool` to its result. Two gateway figures:

- forward: a call of a tool no find_tools returned (forwarded, nothing recorded), against a
  direct call;
- forward + record: a call right after a find_tools that returned the tool, so the gateway also
  stores the select event (the learn-from-calls path); only the call is timed. Any call right
  after a find_tools answer is slower, a direct one too (the client has just parsed a large
  answer; measured ~+2.5 ms here), so its baseline is a direct call timed right after a
  find_tools as well.

    python bench/gateway_latency.py [--calls 500] [--json]

Prints p50 / p99 in ms of each and the added latency (gateway p50 − its direct baseline's p50).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parent.parent
TOOLBOX = ROOT / "tests" / "servers" / "toolbox.py"
ARGS = {"a": 17.5, "b": 24.25}
NEED = "add two numbers"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def timed(call) -> float:
    started = time.perf_counter()
    result = await call()
    elapsed = (time.perf_counter() - started) * 1000
    assert not result.is_error, result.content
    return elapsed


async def run(calls: int, home: Path) -> dict:
    config = home / "mcpServers.json"
    config.write_text(json.dumps({"mcpServers": {"toolbox": {"command": sys.executable, "args": [str(TOOLBOX)]}}}))
    direct_params = StdioServerParameters(command=sys.executable, args=[str(TOOLBOX)])
    gateway_params = StdioServerParameters(command=str(Path(sys.executable).parent / "matchgraph"),
                                           args=["gateway", "--servers", str(config), "--home", str(home / "home")])
    errlog = open(home / "gateway.log", "w")
    times: dict[str, list[float]] = {"direct": [], "forward": [], "direct_after_find": [], "forward_record": []}
    async with stdio_client(direct_params) as (dr, dw), ClientSession(dr, dw) as direct, \
            stdio_client(gateway_params, errlog=errlog) as (gr, gw), ClientSession(gr, gw) as gateway:
        await direct.initialize()
        await gateway.initialize()
        through = lambda: gateway.call_tool("call_tool", {"server": "toolbox", "tool": "add_numbers",  # noqa: E731
                                                          "arguments": ARGS})
        straight = lambda: direct.call_tool("add_numbers", ARGS)  # noqa: E731
        found = await gateway.call_tool("find_tools", {"need": NEED, "k": 3})  # waits for the first index
        assert not found.is_error, found.content
        for _ in range(30):  # warm both paths
            await timed(straight)
            await timed(through)
        for i in range(calls):
            times["direct"].append(await timed(straight))
            times["forward"].append(await timed(through))
            if i % 5 == 0:  # a find before the call: the call is recorded as a select
                await gateway.call_tool("find_tools", {"need": NEED, "k": 3, "record": False})
                times["direct_after_find"].append(await timed(straight))
                await gateway.call_tool("find_tools", {"need": NEED, "k": 3})
                times["forward_record"].append(await timed(through))
    errlog.close()
    figures = {name: {"calls": len(v), "p50_ms": round(statistics.median(v), 3), "p99_ms": round(percentile(v, 0.99), 3)}
               for name, v in times.items()}
    baseline = {"forward": "direct", "forward_record": "direct_after_find"}
    figures["added_p50_ms"] = {name: round(figures[name]["p50_ms"] - figures[base]["p50_ms"], 3)
                               for name, base in baseline.items()}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-latency-") as folder:
        figures = anyio.run(run, args.calls, Path(folder))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{'path':<22} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10}")
    for name, label in (("direct", "direct (SDK client)"), ("forward", "gateway"),
                        ("direct_after_find", "direct, after a find"), ("forward_record", "gateway + record")):
        row = figures[name]
        added = figures["added_p50_ms"].get(name)
        print(f"{label:<22} {row['calls']:>6} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{'' if added is None else f'{added:+.2f}':>10}")


if __name__ == "__main__":
    main()
