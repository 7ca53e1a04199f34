"""Match quality guards: a skewed search log must not make one artifact win unrelated queries."""

from __future__ import annotations

from matchgraph import Engine

POPULAR = "github/copilot"
INTENT = "suggest the next lines of code in my editor"
UNRELATED = ["transcribe a podcast recording on a laptop without a GPU",
             "read the text of a scanned invoice",
             "translate documents on my own server"]


def _skewed_log(n: int = 300) -> list[dict]:
    """One artifact selected `n` times for one intent (a few wordings of it)."""
    wordings = [INTENT, "code completion in my IDE", "autocomplete python functions"]
    return [{"query": wordings[i % len(wordings)], "artifact_id": POPULAR, "kind": "select",
             "event_id": f"skew-{i}"} for i in range(n)]


def _ids(engine: Engine, query: str, k: int = 5) -> list[str]:
    return [r.artifact_id for r in engine.search(query, k=k, record=False).results]


def test_skewed_log_does_not_float_to_unrelated_queries(fresh_home, model):
    engine = Engine(fresh_home)
    before = {q: _ids(engine, q) for q in UNRELATED}
    assert engine.add_events(_skewed_log())["new"] == 300
    engine.refresh()
    for query in UNRELATED:
        after = _ids(engine, query)
        assert after[0] == before[query][0], (query, before[query], after)
        assert POPULAR not in after[:3], (query, after)
    engine.close()


def test_history_still_helps_its_own_intent(fresh_home, model):
    engine = Engine(fresh_home)
    engine.add_events(_skewed_log())
    engine.refresh()
    top = engine.search(INTENT, k=3, record=False).results[0]
    assert top.artifact_id == POPULAR
    assert top.signals.graph > 0 and top.past_queries  # the explanation names the past queries
    engine.close()


def test_graph_weight_zero_is_the_cold_ranking(fresh_home, model):
    """`search.w_task`, `w_adapter` and `w_offsets` at 0 (and no prior) turn history off:
    the same ranking as with no events."""
    off = {"search": {"w_task": 0.0, "w_adapter": 0.0, "w_offsets": 0.0, "w_prior": 0.0}}
    engine = Engine(fresh_home, overrides=off)
    before = _ids(engine, INTENT, 10)
    engine.add_events(_skewed_log(30))
    engine.refresh()
    assert _ids(engine, INTENT, 10) == before
    engine.close()


def test_task_level_of_the_walk_reaches_never_asked_models(fresh_home, model):
    """History for one code model lifts the other code models of that task (never asked for), not
    the models of other tasks: the walk's task level (`search.w_task`)."""
    engine = Engine(fresh_home, overrides={"search": {"w_adapter": 0.0, "w_offsets": 0.0,
                                                      "w_prior": 0.0}})
    engine.add_events(_skewed_log(30))
    engine.refresh()
    results = {r.artifact_id: r for r in engine.search("write code for me", k=100, record=False).results}
    for sibling in ("bigcode/starcoder2-15b", "Qwen/Qwen2.5-Coder-7B-Instruct"):
        assert results[sibling].signals.graph > 0, sibling  # same task, no events of its own
    others = [r for r in results.values() if r.task != "code-generation"]
    assert others and all(r.signals.graph == 0 for r in others)
    engine.close()


def test_sample_input_pasted_after_a_marker_is_not_matched(demo_engine):
    """'###Input:' starts the sample the model will be given; search matches the request before it."""
    from matchgraph.core.events import request_part

    markers = ["###Input:", "### Input:"]
    assert request_part("Summarize this review. ###Input: The food was cold.", markers) == "Summarize this review."
    assert request_part("summarize ### input: text", markers) == "summarize"  # case-insensitive
    assert request_part("no marker here", markers) == "no marker here"
    assert request_part("###Input: only a sample", markers) == "###Input: only a sample"  # nothing before it

    request = "transcribe the recording of our weekly meeting"
    sample = " ###Input: a photorealistic painting of a castle, generated images, stable diffusion art"
    plain = [r.artifact_id for r in demo_engine.search(request, k=5, record=False).results]
    pasted = [r.artifact_id for r in demo_engine.search(request + sample, k=5, record=False).results]
    assert pasted == plain


def test_task_level_is_scaled_down_while_few_past_queries_seed_the_walk(fresh_home, model):
    """One past query in a young log hands its task only a third of w_task (task_evidence = 3)."""
    only_task = {"w_adapter": 0.0, "w_offsets": 0.0, "w_prior": 0.0}
    sibling = "bigcode/starcoder2-15b"
    graph_signal = {}
    for evidence in (1, 3):
        engine = Engine(fresh_home, overrides={"search": {**only_task, "task_evidence": evidence}})
        engine.add_events([{"query": INTENT, "artifact_id": POPULAR, "kind": "select", "event_id": "one"}])
        engine.refresh()
        results = {r.artifact_id: r for r in engine.search(INTENT, k=100, record=False).results}
        graph_signal[evidence] = results[sibling].signals.graph
        engine.close()
    assert graph_signal[1] > 0
    assert abs(graph_signal[3] - graph_signal[1] / 3) < 1e-3, graph_signal
