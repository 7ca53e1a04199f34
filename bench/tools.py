"""Tool routing (issue 26): for a need written as an agent's user says it, does the right tool come first?

    python bench/tools.py [--work DIR] [--json OUT] [--sizes 10000,100000] [--no-latency]

Set-up (cached under --work, default ~/.cache/matchgraph-tools): scripts/mcp-servers.sh installs
the real MCP servers of bench/tools/servers.txt (PyPI and npm); each is started and its tools are
listed with `matchgraph import mcp`; the registry seed (464 servers, no tools) is imported beside
them as distractors; one home indexes both. The import reruns only when servers.txt, the seed or
the installed pins change.

Ranked units, the same for every system: each MCP tool, and each registry server (a wrong answer
for every need here: the distractors). Prompts and resources of the imported servers are left out,
as find_tools leaves them out. A need is labeled with (server artifact id, tool name) and sometimes equivalent alternatives
(bench/tools/needs-*.jsonl); a ranking's hit is its first unit that is one of them.

Systems, on the same home and needs, in one run:
  dense       cosine of the query and each unit's text (tool name in words, title, description)
              with the home's model, FAISS flat;
  BM25        bm25s (English stop words, Snowball stemmer) over the same texts;
  RRF         dense + BM25 by reciprocal rank fusion (k=60), each passing its top 100;
  matchgraph  `Engine.find_tools(need, k=10, record=False, kinds=[tool, operation, server])` with
              no events (cold), then again after ingesting the train split as a log of
              selections (one select event per train need: its server as artifact_id, its tool
              as capability_id); and, for reference, with find_tools' default kinds (no
              servers: the distractors are out of its way).
Figures: top-1, top-3, MRR@10 on dev (all, warm: a train need names the same tool in other words,
cold: none does) and on train. Then find_tools latency at 10k and 100k tools: synthetic tool
catalogs from bench/scale.py's generator (each capability given an MCP tool reference), vectors
from its pseudo-encoder written into the store's cache; query vectors made beforehand by the real
model, so p50/p99 (100 needs, 3 passes) are the search beyond encoding; encoding is timed on its
own beside them, and the load average is printed (the figures move with it on a shared machine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from common import ROOT
from pydantic import BaseModel, ConfigDict, Field
from quality import Baselines  # bench/quality.py

from matchgraph import Engine
from matchgraph.core.catalog import Artifact, capability_kind, load_catalog, split_identifier
from matchgraph.core.validation import read_models

NEEDS = ROOT / "bench" / "tools"  # the needs and the servers of this benchmark
SERVERS = NEEDS / "servers.txt"
REGISTRY_SEED = ROOT / "fixtures" / "import" / "mcp-registry-seed-2025-05-16.json"
SETUP = ROOT / "scripts" / "mcp-servers.sh"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "matchgraph-tools"
K = 10
LATENCY_QUERIES = 100  # distinct needs timed per size
LATENCY_PASSES = 3  # each timed this many times: a shared machine's bursts weigh less in p50
SYSTEMS = ("dense", "BM25", "dense+BM25 RRF", "matchgraph cold", "matchgraph with the train log")
# What every system ranks: MCP tools (and OpenAPI operations) and the registry's servers, so the
# seed's 464 servers are distractors for all. find_tools' default kinds leave servers out: the
# table's last two rows show matchgraph so, for reference.
UNIT_KINDS = ("tool", "operation", "server")
DEFAULT_KINDS = None
TOOLS_ONLY = ("matchgraph cold, default kinds (no servers)", "matchgraph with the log, default kinds")

Key = tuple[str, str]  # (artifact id, capability id): one callable unit


# -- needs ---------------------------------------------------------------------------------------
class ToolLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: str = Field(min_length=1, description="the server's artifact id")
    tool: str = Field(min_length=1, description="the tool's name (its capability id)")


class NeedLine(ToolLabel):
    """One line of bench/tools/needs-*.jsonl."""

    need: str = Field(min_length=1)
    alternatives: list[ToolLabel] = []
    group: str | None = Field(None, pattern="^(warm|cold)$")


@dataclass(frozen=True)
class Need:
    text: str
    label: Key  # the labeled tool
    accept: frozenset[Key]  # it and its alternatives
    group: str | None  # dev: warm or cold; train: None


def read_needs(path: Path) -> list[Need]:
    """The needs of one file; every bad line is named (file:line) and nothing is returned."""
    lines, problems = read_models(path, NeedLine)
    if problems:
        raise SystemExit("needs are invalid:\n  " + "\n  ".join(problems))
    return [Need(line.need, (line.server, line.tool),
                 frozenset([(line.server, line.tool)] + [(a.server, a.tool) for a in line.alternatives]), line.group)
            for line in lines]


def needs_files() -> dict[str, Path]:
    return {split: NEEDS / f"needs-{split}.jsonl" for split in ("train", "dev")}


# -- metrics -------------------------------------------------------------------------------------
def hit_position(ranked: list[Key], accept: frozenset[Key], k: int = K) -> int | None:
    """1-based position of the first acceptable unit in the top k, None when there is none."""
    return next((i for i, key in enumerate(ranked[:k], start=1) if key in accept), None)


def scores(positions: list[int | None]) -> dict:
    """top-1, top-3 and MRR@10 from hit positions (matchgraph.search.evaluate.metrics has no @3)."""
    n = len(positions)
    if not n:
        return {"n": 0, "top-1": None, "top-3": None, "mrr@10": None}
    return {"n": n,
            "top-1": round(sum(p == 1 for p in positions) / n, 4),
            "top-3": round(sum(p is not None and p <= 3 for p in positions) / n, 4),
            "mrr@10": round(sum(1.0 / p for p in positions if p is not None and p <= 10) / n, 4)}


def grouped(positions: dict[str, list[int | None]], needs: dict[str, list[Need]]) -> dict[str, dict]:
    """Scores on dev (all, warm, cold) and train."""
    out = {"dev": scores(positions["dev"])}
    for group in ("warm", "cold"):
        out[f"dev {group}"] = scores([p for p, n in zip(positions["dev"], needs["dev"]) if n.group == group])
    out["train"] = scores(positions["train"])
    return out


def run_system(rank: Callable[[str], list[Key]], needs: dict[str, list[Need]]) -> dict[str, dict]:
    """Figures by group, and under "misses" each need whose tool was not first: what came first
    instead and where the tool was (None: not in the top 10)."""
    positions: dict[str, list[int | None]] = {}
    misses = []
    for split, items in needs.items():
        positions[split] = []
        for need in items:
            ranked = rank(need.text)
            position = hit_position(ranked, need.accept)
            positions[split].append(position)
            if position != 1:
                misses.append({"split": split, "group": need.group, "need": need.text, "tool": list(need.label),
                               "first": list(ranked[0]) if ranked else None, "position": position})
    return {**grouped(positions, needs), "misses": misses}


# -- catalog -------------------------------------------------------------------------------------
def server_commands() -> list[str]:
    return [line.strip() for line in SERVERS.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def build_catalog(work: Path) -> list[Path]:
    """The live servers' and the registry seed's catalog files under work/catalog (cached)."""
    folder = work / "catalog"
    servers, registry = folder / "servers.jsonl", folder / "registry.jsonl"
    installed = ROOT / ".mcp-servers" / "installed.txt"
    subprocess.run(["bash", str(SETUP)], cwd=ROOT, check=True)  # quick when installed
    stamp = hashlib.sha256(SERVERS.read_bytes() + REGISTRY_SEED.read_bytes() + installed.read_bytes()).hexdigest()
    if (folder / "stamp").exists() and (folder / "stamp").read_text() == stamp and servers.exists():
        return [servers, registry]
    folder.mkdir(parents=True, exist_ok=True)
    script = f'source {SETUP} && exec matchgraph import mcp --timeout 120 -o "$0" -- "$@"'
    subprocess.run(["bash", "-c", script, str(servers), *server_commands()], cwd=ROOT, check=True)
    subprocess.run([sys.executable, "-m", "matchgraph.cli", "import", "mcp-registry", str(REGISTRY_SEED),
                    "-o", str(registry)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    (folder / "stamp").write_text(stamp)
    return [servers, registry]


def tool_units(artifacts: list[Artifact]) -> tuple[list[Key], list[str]]:
    """Every ranked unit's key (MCP tools and registry servers here) and its text: name (in
    words), title, description."""
    keys, texts = [], []
    for a in artifacts:
        for c in a.capabilities:
            if capability_kind(c, a.task) in UNIT_KINDS:
                name = c.tool.name if c.tool else a.name
                keys.append((a.id, c.id))
                texts.append(f"{' '.join(split_identifier(name).split())}. {c.title}. {c.description}")
    return keys, texts


class ToolBaselines(Baselines):
    """bench/quality.py's dense, BM25 and RRF, over one text per callable unit."""

    def __init__(self, keys: list[Key], texts: list[str], embedder):
        self._index(keys, texts, embedder)


# -- matchgraph ----------------------------------------------------------------------------------
def find_tools(engine: Engine, need: str, kinds=UNIT_KINDS, k: int = K) -> list[Key]:
    """Engine.find_tools' ranking (not recorded) as keys."""
    return [(r.artifact_id, r.capability_id) for r in engine.find_tools(need, k=k, record=False, kinds=kinds).results]


def selection_log(needs: list[Need], path: Path) -> Path:
    """One select event per train need: the labeled tool, as an agent's record_selection stores it."""
    with path.open("w") as fh:
        for i, need in enumerate(needs):
            server, tool = need.label
            fh.write(json.dumps({"query": need.text, "artifact_id": server, "capability_id": tool,
                                 "kind": "select", "event_id": f"toolbench-train-{i}"}) + "\n")
    return path


def cached_home(work: Path, catalog: list[Path]) -> Path:
    """The indexed home (only new texts are embedded), with the baselines' texts in its store's
    vector cache too."""
    home = work / "home"
    engine = Engine(home)
    engine.index([str(p) for p in catalog], progress=True)
    engine.embedder().encode(tool_units(load_catalog([str(p) for p in catalog]))[1])
    engine.close()
    return home


# -- latency at scale ----------------------------------------------------------------------------
def synthetic_tools(n_tools: int) -> list[dict]:
    """bench/scale.py's synthetic catalog, each capability made an MCP tool of its artifact's server."""
    from scale import CAPS_PER_ARTIFACT, make_catalog

    out = []
    for i, record in enumerate(make_catalog(math.ceil(n_tools / CAPS_PER_ARTIFACT))):
        server = f"synthetic-mcp-server-{i}"
        record = {**record, "kind": "tool", "tags": record["tags"] + ["mcp-server", "stdio"],
                  "signals": {**record["signals"], "integrations": [f"stdio:{server}"]}}
        record["capabilities"] = [
            {**c, "tool": {"server": server, "name": f"{c['id'].replace('-', '_')}_{record['task'].replace('-', '_')}",
                           "input_schema": {"type": "object", "properties": {x: {"type": "string"} for x in c["inputs"]}}}}
            for c in record["capabilities"]]
        out.append(record)
    return out


def latency(work: Path, n_tools: int) -> dict:
    """find_tools p50/p99 (default kinds) over precomputed query vectors at n_tools, and query
    encoding alone."""
    from scale import SEED, PseudoEncoder, _each, _Precomputed, _quantiles, make_queries

    from matchgraph.core.catalog import capability_texts
    from matchgraph.retrieval.embeddings import text_hash

    home = work / f"latency-{n_tools}"
    catalog_path = home / "catalog.jsonl"
    if not catalog_path.exists():
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        records = synthetic_tools(n_tools)
        catalog_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    engine = Engine(home)
    model = engine.config["model"]
    texts = capability_texts(load_catalog([catalog_path]))  # whatever texts the index embeds today
    encoder = PseudoEncoder(work, model)
    for start in range(0, len(texts), 50_000):
        chunk = texts[start:start + 50_000]
        engine.store.put_vectors(model, {text_hash(t): v for t, v in zip(chunk, encoder.encode(chunk, SEED + start))})
    started = time.perf_counter()
    result = engine.index([str(catalog_path)])
    index_s = time.perf_counter() - started
    records = [json.loads(line) for line in catalog_path.read_text().splitlines()]
    queries = [text for text, _ in make_queries(records, LATENCY_QUERIES, SEED + 5)]
    real = engine.embedder()
    vectors = {q: real.encode_query(q) for q in queries}
    encoding = _quantiles(_each(real.encode_query, queries))
    engine._embedders[model] = _Precomputed(real, vectors)
    find_tools(engine, queries[0], DEFAULT_KINDS)  # first load of the index version, not timed
    load = os.getloadavg()[0]
    timed = _quantiles(_each(lambda q: find_tools(engine, q, DEFAULT_KINDS), queries * LATENCY_PASSES))
    engine.close()
    return {"tools": result["capabilities"], "index_s": round(index_s, 1),
            "find_tools_ms": {k: round(v, 2) for k, v in timed.items()},
            "encoding_ms": {k: round(v, 2) for k, v in encoding.items()},
            "embedded_by_index": result["embedded"], "load_average": round(load, 1)}


# -- report --------------------------------------------------------------------------------------
def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(results: dict[str, dict]) -> str:
    """Markdown: one row per system, top-1 / top-3 / MRR@10 per need group."""
    groups = ("dev", "dev warm", "dev cold", "train")
    first = next(iter(results.values()))
    head = "| system | " + " | ".join(f"{g} (n={first[g]['n']}) top-1 / top-3 / MRR@10" for g in groups) + " |"
    lines = [head, "|" + "---|" * (len(groups) + 1)]
    for name, by_group in results.items():
        cells = [" / ".join(_cell(by_group[g][m]) for m in ("top-1", "top-3", "mrr@10")) for g in groups]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_table(rows: dict[int, dict]) -> str:
    lines = ["| tools | find_tools p50 ms | p99 ms | query encoding p50 ms | index s | load average |",
             "|---|---|---|---|---|---|"]
    for row in rows.values():
        lines.append(f"| {row['tools']:,} | {row['find_tools_ms']['p50']:.2f} | {row['find_tools_ms']['p99']:.2f} "
                     f"| {row['encoding_ms']['p50']:.2f} | {row['index_s']:.1f} | {row['load_average']} |")
    return "\n".join(lines)


def ranking_run(work: Path) -> tuple[dict[str, dict], dict]:
    """Every system on the real servers' home: (results by system, counts)."""
    catalog = build_catalog(work)
    needs = {split: read_needs(path) for split, path in needs_files().items()}
    home = cached_home(work, catalog)
    artifacts = load_catalog([str(p) for p in catalog])
    keys, texts = tool_units(artifacts)
    unknown = sorted({k for items in needs.values() for n in items for k in n.accept} - set(keys))
    if unknown:
        raise SystemExit(f"labeled tools missing from the imported servers: {unknown}")
    results: dict[str, dict] = {}
    engine = Engine(home)
    base = ToolBaselines(keys, texts, engine.embedder())
    for name, rank in zip(SYSTEMS[:3], (base.rank_dense, base.rank_bm25, base.rank_rrf)):
        results[name] = run_system(rank, needs)
    results[SYSTEMS[3]] = run_system(lambda q: find_tools(engine, q), needs)
    cold_tools_only = run_system(lambda q: find_tools(engine, q, DEFAULT_KINDS), needs)
    engine.close()
    with tempfile.TemporaryDirectory(prefix="matchgraph-tools-") as tmp:
        copy = Path(tmp) / "home"
        shutil.copytree(home, copy)
        engine = Engine(copy)
        ingested = engine.ingest(selection_log(needs["train"], Path(tmp) / "train-log.jsonl"))
        engine.refresh()
        results[SYSTEMS[4]] = run_system(lambda q: find_tools(engine, q), needs)
        results[TOOLS_ONLY[0]] = cold_tools_only
        results[TOOLS_ONLY[1]] = run_system(lambda q: find_tools(engine, q, DEFAULT_KINDS), needs)
        engine.close()
    counts = {"servers": len(server_commands()), "artifacts": len(artifacts), "units": len(keys),
              "tools": sum(1 for a in artifacts for c in a.capabilities if c.tool),
              "train": len(needs["train"]), "dev": len(needs["dev"]), "log": ingested}
    return results, counts


def target_checks(results: dict[str, dict], scale: dict[int, dict]) -> list[tuple[str, bool]]:
    """Issue 26's targets, each (what, met) on this run's figures."""
    cold, warm = results[SYSTEMS[3]], results[SYSTEMS[4]]
    best = max(results[name]["dev"]["top-1"] for name in SYSTEMS[:3])
    checks = [
        (f"dev cold top-1 {cold['dev']['top-1']:.3f} >= 0.75", cold["dev"]["top-1"] >= 0.75),
        (f"dev cold top-1 {cold['dev']['top-1']:.3f} >= best baseline {best:.3f} + 0.05",
         cold["dev"]["top-1"] >= best + 0.05),
        (f"dev cold top-3 {cold['dev']['top-3']:.3f} >= 0.9", cold["dev"]["top-3"] >= 0.9),
        (f"with the log, dev warm top-1 {warm['dev warm']['top-1']:.3f} >= cold {cold['dev warm']['top-1']:.3f} + 0.10",
         warm["dev warm"]["top-1"] >= cold["dev warm"]["top-1"] + 0.10 - 1e-9),
        (f"with the log, dev cold top-1 {warm['dev cold']['top-1']:.3f} >= cold {cold['dev cold']['top-1']:.3f} - 0.01",
         warm["dev cold"]["top-1"] >= cold["dev cold"]["top-1"] - 0.01 - 1e-9)]
    for size, row in scale.items():
        if size >= 100_000:
            checks.append((f"find_tools p50 at {row['tools']:,} tools {row['find_tools_ms']['p50']:.2f} ms "
                           f"(beyond encoding) <= 5 ms", row["find_tools_ms"]["p50"] <= 5))
    return checks


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(CACHE), help="set-up cache: catalog, indexed homes (reused)")
    parser.add_argument("--sizes", default="10000,100000", help="tool counts for find_tools latency")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency part")
    parser.add_argument("--json", help="also write all figures (and each system's misses) as JSON to this file")
    parser.add_argument("--misses", action="store_true", help="print matchgraph's dev misses, cold and with the log")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results, counts = ranking_run(work)
    print(f"{counts['servers']} live servers ({counts['tools']} tools) + registry seed: {counts['artifacts']} "
          f"artifacts, {counts['units']} callable units; {counts['train']} train needs ({counts['log']['new']} "
          f"select events), {counts['dev']} dev needs")
    print(table(results))
    if args.misses:
        for name in SYSTEMS[3:]:
            print(f"\n{name}, dev needs whose tool was not first (position: None = not in the top 10):")
            for miss in results[name]["misses"]:
                if miss["split"] == "dev":
                    print(f"  [{miss['group']}] {miss['need']!r}: wants {'/'.join(miss['tool'])}, first "
                          f"{'/'.join(miss['first'] or ['nothing'])}, position {miss['position']}")
    scale: dict[int, dict] = {}
    if not args.no_latency:
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            scale[size] = latency(work, size)
            print(f"latency at {size:,} tools: {json.dumps(scale[size])}", file=sys.stderr)
        print(latency_table(scale))
    checks = target_checks(results, scale)
    print("targets (issue 26):\n" + "\n".join(f"  {'met' if met else 'MISSED'}: {what}" for what, met in checks))
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": counts, "results": results,
                                               "latency": {str(k): v for k, v in scale.items()},
                                               "targets": [{"target": what, "met": met} for what, met in checks]},
                                              indent=2))


if __name__ == "__main__":
    main()
