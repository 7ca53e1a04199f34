"""actions.py: the walk starts from past requests split into their actions."""

from matchgraph import Engine
from matchgraph.events import normalize_query
from matchgraph.needs import ACTION, REQUEST, SEVERAL
from matchgraph.search import graph_walk

from conftest import SD, TROCR

PAST = ("Transcribe the handwritten letter my grandmother wrote. Then draw a picture of her village "
        "from a text prompt.")


ON = {"search": {"walk_split_needs": True}}


def test_a_new_action_walks_to_what_that_action_led_to(fresh_home, model):
    engine = Engine(fresh_home, overrides=ON)
    engine.add_events([{"query": PAST, "artifact_id": TROCR}, {"query": PAST, "artifact_id": SD},
                       {"query": "stable diffusion", "artifact_id": SD, "kind": "match"}])
    state = engine.state
    conf = engine.config["search"]  # graph_min_sim 0.4: the other action (cosine 0.36) is not a seed
    request = "transcribe the handwriting of an old letter"
    vector = model.encode([request], normalize_embeddings=True)[0]

    def reached(graph) -> set[str]:
        walk = graph_walk(graph, state.index, request, vector, conf)
        return {state.index.ids[p] for p in walk.positions}

    assert reached(state.graph) == {TROCR, SD}  # whole: the other action's artifact comes along
    assert reached(state.actions) == {TROCR}
    assert state.past(ACTION) is state.actions and state.past(REQUEST) is state.graph
    assert state.past(SEVERAL) is None  # a request naming several actions is ranked without history
    # One row per action; the one-action past query keeps its row, key and counts.
    assert sorted(state.actions.queries) == sorted(
        [normalize_query("Transcribe the handwritten letter my grandmother wrote."),
         normalize_query("Then draw a picture of her village from a text prompt."), "stable diffusion"])
    assert state.actions.edges[("stable diffusion", SD)] == state.graph.edges[("stable diffusion", SD)]
    assert state.actions.weights.sum() == state.graph.weights.sum()  # no weight lost or made up
    # Exports, scores and the adapter keep the request as it was recorded.
    assert normalize_query(PAST) in state.graph.queries
    engine.close()


def test_switched_off_or_nothing_to_split_the_walk_reads_the_match_graph(fresh_home):
    engine = Engine(fresh_home, overrides=ON)
    engine.add_events([{"query": "stable diffusion", "artifact_id": SD},
                       {"query": "read old handwriting", "artifact_id": TROCR}])
    assert engine.state.past(ACTION) is engine.state.graph  # no past request names several actions
    engine.add_events([{"query": PAST, "artifact_id": TROCR}, {"query": PAST, "artifact_id": SD}])
    engine.close()
    engine = Engine(fresh_home)  # off by default (bench/crossval.py)
    assert engine.state.actions is None and engine.state.past(ACTION) is engine.state.graph
    engine.close()


def test_rows_left_out_never_seed_the_walk(fresh_home, model):
    """Leave-one-out (bench/vote_loo.py): a left-out past request seeds nothing, not even when the
    new request repeats it word for word; the other past requests still do."""
    engine = Engine(fresh_home)
    request = "transcribe the handwriting of an old letter"
    engine.add_events([{"query": request, "artifact_id": TROCR},
                       {"query": "read the handwriting in a scanned old letter", "artifact_id": SD}])
    state, conf = engine.state, engine.config["search"]
    vector = model.encode([request], normalize_embeddings=True)[0]
    own = state.graph.query_pos[normalize_query(request)]

    def reached(exclude: frozenset[int]) -> set[str]:
        walk = graph_walk(state.graph, state.index, request, vector, conf, exclude)
        return {state.index.ids[p] for p in walk.positions}

    assert reached(frozenset()) == {TROCR, SD}
    assert reached(frozenset({own})) == {SD}
    engine.close()
