"""The tool-routing benchmark's data and arithmetic (bench/tools.py): its needs name tools that the
real servers list when imported live, its warm/cold marks agree with the train split, and its
top-1 / top-3 / MRR@10 are right on small hand-worked examples."""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest
from conftest import ROOT

from matchgraph.core.catalog import load_catalog

# The bench scripts import their siblings (common, quality) as `python bench/x.py` lets them.
sys.path.insert(0, str(ROOT / "bench"))
import tools as bench_tools  # noqa: E402  (bench/tools.py)


@pytest.fixture(scope="module")
def needs():
    return {split: bench_tools.read_needs(path) for split, path in bench_tools.needs_files().items()}


@pytest.fixture(scope="module")
def live_servers(tmp_path_factory):
    """The benchmark's servers (scripts/mcp-servers.sh installs them) imported live."""
    servers, _registry = bench_tools.build_catalog(tmp_path_factory.mktemp("toolbench"))
    return load_catalog([servers])


def test_needs_are_many_split_and_distinct(needs):
    train, dev = needs["train"], needs["dev"]
    assert len(train) + len(dev) >= 100
    assert 0.5 <= len(train) / (len(train) + len(dev)) <= 0.7
    texts = [n.text.lower() for n in train + dev]
    assert [t for t, c in Counter(texts).items() if c > 1] == []
    assert all(n.group is None for n in train)


def test_dev_groups_follow_the_train_split(needs):
    """warm: some train need (other words) names one of its tools; cold: none does."""
    trained = {key for n in needs["train"] for key in n.accept}
    for need in needs["dev"]:
        assert need.group == ("warm" if need.accept & trained else "cold"), need.text
    assert Counter(n.group for n in needs["dev"]).keys() == {"warm", "cold"}


@pytest.mark.slow  # imports every benchmark server live
def test_every_labeled_tool_is_listed_by_its_live_server(needs, live_servers):
    tools = {(a.id, c.id) for a in live_servers for c in a.capabilities if c.tool is not None}
    labeled = {key for items in needs.values() for n in items for key in n.accept}
    assert sorted(labeled - tools) == []
    servers = {a.id for a in live_servers}
    assert len(servers) == len(bench_tools.server_commands()) >= 8
    # the needs are spread over every server, not a few
    assert {server for server, _ in labeled} == servers


def test_a_bad_needs_line_is_named(tmp_path):
    bad = tmp_path / "needs-dev.jsonl"
    bad.write_text(json.dumps({"need": "what time is it", "server": "mcp-time", "tool": "get_current_time",
                               "group": "warm"}) + "\n" + json.dumps({"need": "", "server": "mcp-time"}) + "\n")
    with pytest.raises(SystemExit) as caught:
        bench_tools.read_needs(bad)
    assert f"{bad}:2" in str(caught.value) and "tool" in str(caught.value)


def test_hit_positions_and_scores_on_a_tiny_example():
    a, b, c = ("s", "a"), ("s", "b"), ("t", "c")
    accept = frozenset([b])
    assert bench_tools.hit_position([b, a], accept) == 1
    assert bench_tools.hit_position([a, c, b], accept) == 3
    assert bench_tools.hit_position([a, c], accept) is None
    assert bench_tools.hit_position([a] * 10 + [b], accept) is None  # 11th: outside MRR@10
    assert bench_tools.hit_position([a, c, b], frozenset([b, c])) == 2  # the first acceptable counts
    figures = bench_tools.scores([1, 3, None, 2])
    assert figures == {"n": 4, "top-1": 0.25, "top-3": 0.75, "mrr@10": round((1 + 1 / 3 + 1 / 2) / 4, 4)}
    assert bench_tools.scores([])["top-1"] is None


def test_groups_split_dev_by_history():
    need = lambda group: bench_tools.Need("x", ("s", "a"), frozenset([("s", "a")]), group)  # noqa: E731
    needs = {"dev": [need("warm"), need("cold"), need("warm")], "train": [need(None)]}
    out = bench_tools.grouped({"dev": [1, None, 2], "train": [4]}, needs)
    assert out["dev"]["n"] == 3 and out["dev warm"] == {"n": 2, "top-1": 0.5, "top-3": 1.0, "mrr@10": 0.75}
    assert out["dev cold"]["top-3"] == 0.0 and out["train"] == {"n": 1, "top-1": 0.0, "top-3": 0.0, "mrr@10": 0.25}

