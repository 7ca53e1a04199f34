"""Ingest, the match graph, Times Matched, scores and the graph signal, on the demo log."""

import json

import numpy as np
import pytest
from conftest import DEMO_LOG, TROCR

from matchgraph import Engine
from matchgraph.core.errors import ValidationFailed
from matchgraph.core.events import normalize_query
from matchgraph.graph.match_graph import anode, qnode


def _log_events():
    return [json.loads(line) for line in DEMO_LOG.read_text().splitlines() if line.strip()]


def test_times_matched_counts_distinct_events_and_reingest_changes_nothing(demo_home):
    engine = Engine(demo_home)
    expected = {}
    for event in {e["event_id"]: e for e in _log_events()}.values():
        expected[event["artifact_id"]] = expected.get(event["artifact_id"], 0) + 1
    scores = engine.state.scores
    assert {a: s["times_matched"] for a, s in scores.items() if s["times_matched"]} == expected
    before = engine.stats()
    assert engine.ingest(DEMO_LOG) == {"received": len(_log_events()), "new": 0,
                                       "duplicates": len(_log_events())}
    engine.refresh()
    assert engine.stats() == before


def test_events_without_id_get_a_deterministic_one(fresh_home):
    engine = Engine(fresh_home)
    batch = [{"query": "Read my handwriting!", "artifact_id": TROCR, "ts": "2026-10-01T00:00:00Z"}]
    assert engine.add_events(batch)["new"] == 1
    assert engine.add_events(batch)["new"] == 0


def test_a_bad_line_rejects_the_whole_file(fresh_home, tmp_path):
    engine = Engine(fresh_home)
    lines = DEMO_LOG.read_text().splitlines()[:10]
    lines[6] = json.dumps({"query": "x", "artifact_id": TROCR, "kind": "click"})
    lines[8] = json.dumps({"query": "x", "artifact_id": "no/such-model"})
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(ValidationFailed) as err:
        engine.ingest(path)
    assert f"{path}:7: kind:" in str(err.value) and f"{path}:9: artifact_id: unknown" in str(err.value)
    assert engine.store.event_count() == 0


def test_graph_has_typed_nodes_and_counted_edges(demo_engine):
    graph = demo_engine.state.graph.network
    types = {d["type"] for _, d in graph.nodes(data=True)}
    assert types == {"query", "capability", "artifact"}
    edge = graph.edges[qnode("read handwritten letters"), anode(TROCR)]
    assert edge["matches"] >= 1 and edge["weight"] >= edge["matches"]


def test_recorded_searches_tie_queries_to_the_matched_capability(fresh_home):
    engine = Engine(fresh_home)
    result = engine.search("turn speech into text").results[0]
    graph = engine.state.graph.network
    edge = graph.edges[qnode("turn speech into text"), f"c:{result.artifact_id}#{result.matched_capability}"]
    assert edge["relation"] == "matched_capability" and edge["matches"] == 1


def test_near_duplicate_queries_merge_and_different_ones_do_not(model):
    from matchgraph.graph.dedup import merge_near_duplicates
    from matchgraph.retrieval.embeddings import Embedder

    queries = [normalize_query(q) for q in ["handwriting recognition", "handwritting recognition",
                                            "Handwriting recognition!", "speech recognition"]]
    vectors = Embedder("default").encode(queries)
    groups = merge_near_duplicates(queries, vectors, ratio=92)
    assert groups[0] == groups[1] == groups[2] != groups[3]
    # within the ratio of each other, but another word: another request
    french = normalize_query("Translate the user manual of our coffee machine from English into French")
    pair = [french, french.replace("french", "german")]
    assert merge_near_duplicates(pair, Embedder("default").encode(pair), ratio=92) == [0, 1]


def test_new_events_reach_the_graph_without_reembedding_the_catalog(fresh_home):
    engine = Engine(fresh_home)
    assert engine.state.scores[TROCR]["times_matched"] == 0
    embedded_before = engine.store.versions()[0]["embedded"]
    engine.add_events([{"query": "decipher grandmother's handwritten recipes", "artifact_id": TROCR,
                        "kind": "select", "event_id": "t-1"}])
    assert engine.state.scores[TROCR]["times_matched"] == 1  # refresh_seconds=0: next read sees it
    assert engine.store.versions()[0]["embedded"] == embedded_before
    assert engine.state.index.version == engine.store.versions()[0]["version"]


def test_server_engine_waits_for_the_refresh_interval(fresh_home):
    engine = Engine(fresh_home, refresh_seconds=3600)
    assert engine.state.scores[TROCR]["times_matched"] == 0
    engine.store.add_events([])  # nothing
    Engine(fresh_home).add_events([{"query": "handwriting", "artifact_id": TROCR, "event_id": "t-2"}])
    assert engine.state.scores[TROCR]["times_matched"] == 0  # still within the interval
    engine.refresh()
    assert engine.state.scores[TROCR]["times_matched"] == 1


def test_scores_are_0_to_100_with_explanations_and_neutral_priors(demo_engine):
    scores = demo_engine.state.scores
    for entry in scores.values():
        for name in ("adoption", "quality", "ecosystem", "match_graph", "freshness", "rank"):
            assert 0 <= entry[name] <= 100
            assert entry["explanations"][name]
    unmatched = [e for e in scores.values() if e["times_matched"] == 0]
    assert unmatched and all(e["match_graph"] == 50 and "neutral prior" in e["explanations"]["match_graph"]
                             for e in unmatched)


def test_search_explains_which_past_queries_a_result_came_from(demo_engine):
    result = demo_engine.search("read handwritten letters", record=False).results[0]
    assert result.artifact_id == TROCR
    assert result.past_queries and result.signals.graph > 0
    assert "Past queries" in result.explanation


def test_eval_never_records_and_reports_groups(demo_home, tmp_path):
    engine = Engine(demo_home)
    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text("\n".join(json.dumps(x) for x in [
        {"query": "read the handwriting in old scanned letters", "artifact_id": TROCR, "history": "warm"},
        {"query": "stable difusion", "artifact_ids": ["stabilityai/stable-diffusion"], "history": "cold"}]))
    before = engine.store.event_count()
    report = engine.evaluate(labeled)
    assert engine.store.event_count() == before
    assert set(report["overall"]) >= {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "latency_ms"}
    assert set(report["groups"]) == {"warm", "cold"} and report["overall"]["recall@10"] == 1.0
    assert "search" in report["config"]


def test_artifacts_removed_from_the_catalog_leave_the_graph_but_keep_their_events(demo_home, tmp_path):
    import shutil

    from conftest import CATALOG

    engine = Engine(demo_home)
    events_before = engine.store.event_count()
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    for path in catalog.glob("*.jsonl"):
        kept = [line for line in path.read_text().splitlines() if f'"id": "{TROCR}"' not in line]
        path.write_text("\n".join(kept) + "\n")
    engine.index([catalog])
    graph = engine.state.graph.network
    assert anode(TROCR) not in graph
    assert all("type" in data for _, data in graph.nodes(data=True))
    assert engine.store.event_count() == events_before
    engine.index([CATALOG])  # back in the catalog: its history is back too
    assert engine.state.scores[TROCR]["times_matched"] > 0


def test_near_duplicate_groups_do_not_depend_on_the_other_queries(model):
    """Whether two queries merge depends on the two only: a query that arrives later can join or
    bridge groups but never split one (what lets a refresh merge only the new queries)."""
    from matchgraph.graph.dedup import merge_near_duplicates
    from matchgraph.retrieval.embeddings import Embedder

    a, b, c = (normalize_query(q) for q in ["convert scanned handwritten letters into plain text",
                                            "convrt scaned handwriten leters into plan txt",
                                            "convert scaned handwriten letters into plain txt"])
    others = [normalize_query(f"convert scanned {w} into plain text") for w in ("invoices", "receipts", "maps")]
    embedder = Embedder("default")
    before = sorted([a, b, *others])
    groups = merge_near_duplicates(before, embedder.encode(before), ratio=92)
    assert groups[before.index(a)] != groups[before.index(b)]  # texts alike, vectors not close
    after = sorted([a, b, c, *others])
    groups = merge_near_duplicates(after, embedder.encode(after), ratio=92)
    assert groups[after.index(a)] == groups[after.index(b)] == after.index(c)  # c bridges, sorts first
    assert len({groups[after.index(o)] for o in others}) == 3



def test_near_pairs_searched_in_chunks_are_the_pairs_of_one_search():
    """The range search runs over chunks of rows (dedup.PAIR_BUDGET candidates at a time, so a
    log whose queries all lie close together never holds every pair at once): any chunking
    finds the pairs that one search over all rows finds, in the same order."""
    from matchgraph.graph.dedup import near_pairs

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 16))
    topic = rng.integers(0, 4, 80)
    vectors = centres[topic] + 0.4 * rng.normal(size=(80, 16))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    stems = ["stable diffusion xl", "whisper large v3", "llama 3 chat", "clip vit base"]
    queries = [f"{stems[t]}{'s' if i % 3 == 0 else ''} {i % 5}" for i, t in enumerate(topic)]
    for targets in (list(range(80)), list(range(0, 80, 3))):
        whole = near_pairs(queries, vectors, targets, ratio=85, pair_budget=10**9)
        assert len(whole) > 20
        for budget in (1, 80, 81 * 7, 2000):
            assert near_pairs(queries, vectors, targets, ratio=85, pair_budget=budget) == whole


def test_near_pairs_test_each_querys_nearest_candidates(monkeypatch):
    """Past MAX_CANDIDATES candidates a query's texts are compared with its nearest ones only, so a
    log whose requests all sit within the cosine costs candidates x queries, not the square."""
    from matchgraph.graph import dedup

    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(120, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = [f"the same request {i % 3}" for i in range(120)]  # every text matches a third of the others
    monkeypatch.setattr(dedup, "MAX_CANDIDATES", 10)
    pairs = dedup.near_pairs(queries, vectors, list(range(120)), ratio=95, min_cosine=-1.0)
    cosines = vectors @ vectors.T
    for i in range(120):
        nearest = set(np.argsort(-cosines[i])[:11]) - {i}  # itself and its 10 nearest
        expected = {j for j in nearest if queries[j] == queries[i]}
        assert {j for a, j in pairs if a == i} == expected
