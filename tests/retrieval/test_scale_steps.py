"""The load and build steps that used to grow faster than the catalog give the answers they gave
before: percentiles, scores held as columns, the most matched queries and artifacts."""

import numpy as np

from matchgraph.core.config import DEFAULTS
from matchgraph.core.signals import percentiles
from matchgraph.graph.scores import compute_scores
from matchgraph.search.compare import most_matched, queries_of


def _reference_percentiles(raw, prior):
    """The definition, one value at a time: mean rank of the ties, scaled to 0-100."""
    present = sorted(v for v in raw if v is not None)
    out = []
    for value in raw:
        if value is None:
            out.append(prior)
        elif len(present) == 1:
            out.append(100.0)
        else:
            below = sum(v < value for v in present)
            equal = sum(v == value for v in present)
            out.append(100.0 * (below + (equal - 1) / 2) / (len(present) - 1))
    return out


def test_percentiles_equal_the_definition_with_ties_and_missing_values():
    rng = np.random.default_rng(3)
    raw = [None if rng.random() < 0.2 else float(rng.integers(0, 40)) for _ in range(500)]
    ours = percentiles(np.array([np.nan if v is None else v for v in raw]), 50.0)
    assert np.allclose(ours, _reference_percentiles(raw, 50.0))
    assert percentiles(np.array([np.nan, 7.0, np.nan]), 40.0).tolist() == [40.0, 100.0, 40.0]
    assert percentiles(np.array([np.nan, np.nan]), 40.0).tolist() == [40.0, 40.0]
    assert percentiles(np.zeros(0), 50.0).shape == (0,)


def test_scores_columns_agree_with_the_entries_pages_read(demo_engine):
    state = demo_engine.state
    scores = state.scores
    assert len(scores) == len(state.index.artifacts) and set(scores) == {a.id for a in state.index.artifacts}
    weights = DEFAULTS["scores"]["weights"]
    for i, artifact in enumerate(state.index.artifacts):
        entry = scores[artifact.id]
        assert entry["rank"] == scores.rank[i] == scores.ranks[artifact.id]
        assert entry["times_matched"] == state.graph.times_matched.get(artifact.id, 0)
        weighted = sum(weights[n] * scores.percentile[n][i] for n in weights) / sum(weights.values())
        assert entry["rank"] == round(weighted)
        if entry["times_matched"] == 0:
            assert entry["match_graph"] == 50 and entry["explanations"]["match_graph"].endswith("prior 50")


def test_a_refresh_reuses_the_catalog_signals_and_gives_a_full_builds_scores(demo_engine):
    state = demo_engine.state
    again = compute_scores(state.index.artifacts, state.scores.graph_rank, state.graph.times_matched,
                           demo_engine.config, signals=state.scores.signals)
    fresh = compute_scores(state.index.artifacts, state.scores.graph_rank, state.graph.times_matched,
                           demo_engine.config)
    assert again.signals is state.scores.signals
    assert dict(again.items()) == dict(fresh.items())


def test_most_matched_artifacts_rank_by_count_then_id(demo_engine):
    scores = demo_engine.state.scores
    expected = sorted(scores, key=lambda aid: (-scores[aid]["times_matched"], aid))
    for limit in (1, 3, 6, len(expected) + 2):
        assert scores.most_matched(limit) == expected[:limit]


def test_queries_of_an_artifact_come_from_its_column(demo_engine):
    graph = demo_engine.state.graph
    for artifact_id, listed in graph.queries_by_artifact.items():
        assert queries_of(graph, artifact_id) == {q: (m, s) for q, m, s in listed}
    assert queries_of(graph, "no/such-artifact") == {}


def test_most_matched_queries_keep_the_order_of_a_full_sort():
    queries = {f"q{i:03d}": (i % 7, i % 2) for i in range(300)}
    full = sorted(queries.items(), key=lambda item: (-item[1][0], item[0]))[:10]
    assert [(p.query, p.matches, p.selects) for p in most_matched(queries, 10)] == \
        [(q, m, s) for q, (m, s) in full]


def test_a_log_past_the_capability_budget_offsets_only_the_capabilities_it_chose(fresh_home, model):
    """When the logged artifacts' capabilities alone exceed adapter_max_capabilities, each step
    would cost queries x all of them: only the capability each (query, artifact) weight goes to
    gets an offset, and the fit still lifts the chosen artifact for its requests."""
    from matchgraph import Engine

    engine = Engine(fresh_home, overrides={"search": {"adapter_max_capabilities": 2}})
    chosen = "openai/whisper-large-v3"
    wordings = ["make subtitles for my video", "caption a lecture recording", "write an srt file"]
    engine.add_events([{"query": wordings[i % 3], "artifact_id": chosen, "kind": "select",
                        "event_id": f"budget-{i}"} for i in range(12)])
    state = engine.state
    logged = state.index.cap_rows[chosen]
    assert len(logged) > 2
    adapter = state.adapter
    assert 0 < len(adapter.rows) < len(logged) and set(adapter.rows) <= set(logged)
    query = engine.embedder().encode_query(wordings[0])
    general, personal = adapter.scores(state.index, query)
    assert personal[state.index.position[chosen]] > general[state.index.position[chosen]]
    engine.close()
