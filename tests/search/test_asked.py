"""A request asked before (matchgraph/search/asked.py): what people selected for it goes first."""

from __future__ import annotations

from matchgraph import Engine
from matchgraph.graph.dedup import same_words
from matchgraph.search.asked import asked_before

REQUEST = "turn a recorded podcast episode into text"


def _ids(engine: Engine, query: str, k: int = 30) -> list[str]:
    return [r.artifact_id for r in engine.search(query, k=k, record=False).results]


def _selects(query: str, artifact_id: str, n: int, tag: str) -> list[dict]:
    return [{"query": query, "artifact_id": artifact_id, "kind": "select", "event_id": f"{tag}-{i}"}
            for i in range(n)]


def test_a_repeated_request_puts_what_people_selected_first(fresh_home, model):
    engine = Engine(fresh_home)
    before = _ids(engine, REQUEST)
    unrelated = "draw a watercolor picture of a lighthouse"
    unrelated_before = _ids(engine, unrelated, k=5)
    chosen, second = before[7], before[12]  # what the catalog alone ranks low
    engine.add_events(_selects(REQUEST, chosen, 3, "chosen") + _selects(REQUEST, second, 1, "second"))
    engine.refresh()

    for wording in (REQUEST, "Turn a recorded podcast episode into text!", "turn a recorded podcast episod into text"):
        after = _ids(engine, wording)
        assert after[:2] == [chosen, second], (wording, after[:5])  # the most selected first
    top, runner_up = engine.search(REQUEST, k=2, record=False).results
    assert top.signals.graph >= 1.0  # w_asked counts in full for the most selected
    assert top.reason.selected_before == 3 and runner_up.reason.selected_before == 1
    assert top.explanation.startswith("Matched because people asking this same request selected it (3 times).")
    assert _ids(engine, unrelated, k=5) == unrelated_before  # nobody asked that before
    engine.close()


def test_only_selects_count_and_w_asked_zero_turns_it_off(fresh_home, model):
    engine = Engine(fresh_home)
    engine.search(REQUEST, k=5)  # a recorded search: match events for what was shown
    engine.refresh()
    state = engine.state
    vector = engine.embedder().encode_query(REQUEST)
    positions, _ = asked_before(state.graph, REQUEST, vector, engine.config["search"]["input_markers"])
    assert len(positions) == 0  # shown is not chosen
    chosen = _ids(engine, REQUEST)[9]
    engine.add_events(_selects(REQUEST, chosen, 2, "chosen"))
    engine.close()

    off = Engine(fresh_home, overrides={"search": {"w_asked": 0.0}})
    assert _ids(off, REQUEST)[0] != chosen
    off.close()
    on = Engine(fresh_home)
    assert _ids(on, REQUEST)[0] == chosen
    on.close()


def test_a_repeated_request_of_several_actions_gets_each_selected_artifact(fresh_home, model):
    """The whole text of a request naming several actions is ranked without the walk
    (matchgraph/retrieval/needs.py), but a repeat of it still finds what was selected for it."""
    request = "Transcribe the interview recording. Then translate the transcript into German."
    engine = Engine(fresh_home)
    before = _ids(engine, request)
    chosen = [before[8], before[14]]
    engine.add_events(_selects(request, chosen[0], 1, "a") + _selects(request, chosen[1], 1, "b"))
    engine.refresh()
    after = _ids(engine, request, k=5)
    assert set(chosen) <= set(after[:2]), after
    engine.close()


def test_the_same_request_with_another_sample_input_repeats_it(fresh_home, model):
    engine = Engine(fresh_home)
    request = "Summarize this customer review in one sentence."
    chosen = _ids(engine, request)[9]
    engine.add_events(_selects(f"{request} ###Input: The phone arrived late but works well.", chosen, 2, "r"))
    engine.refresh()
    assert _ids(engine, f"{request} ###Input: Battery died after a week, support never answered.")[0] == chosen
    engine.close()


def test_same_words_allows_typos_not_other_words():
    assert same_words("turn a recorded podcast episod into text", "turn a recorded podcast episode into text")
    assert same_words("recieve the invoice", "receive the invoice")
    assert not same_words("translate our manual from english into german",
                          "translate our manual from english into french")
    assert not same_words("translate french to english", "translate english to french")
    assert not same_words("whisper v2 transcription", "whisper v3 transcription")
    assert not same_words("turn a podcast into text", "turn the podcast into text please")


def test_a_request_differing_in_one_word_is_not_a_repeat(fresh_home, model):
    """Within the graph's near-duplicate ratio of each other, but not the same request."""
    asked = "Translate the user manual of our coffee machine from English into French for the website"
    other = asked.replace("French", "German")
    engine = Engine(fresh_home)
    chosen = _ids(engine, asked)[9]
    engine.add_events(_selects(asked, chosen, 3, "fr"))
    engine.refresh()
    assert _ids(engine, asked)[0] == chosen
    assert all(r.reason.selected_before == 0 for r in engine.search(other, k=30, record=False).results)
    engine.close()
