"""What the search learns from the log (matchgraph/learn/adapter.py), on the real model and demo catalog."""

from __future__ import annotations

import os
import time

import numpy as np
from scipy import sparse

from matchgraph import Engine
from matchgraph.core.config import DEFAULTS
from matchgraph.learn.adapter import fit_adapter
from matchgraph.learn.fits import STALE_SECONDS, prune_fits

CHOSEN = "openai/whisper-large-v3"  # what people in this log pick for subtitles
WORDINGS = ["make subtitles for my videos", "caption the talks we recorded", "subtitle a lecture video"]


def _log(n: int = 30) -> list[dict]:
    return [{"query": WORDINGS[i % len(WORDINGS)], "artifact_id": CHOSEN, "kind": "select",
             "event_id": f"subtitles-{i}"} for i in range(n)]


def test_fit_is_deterministic_and_offsets_only_logged_artifacts(fresh_home, model):
    engine = Engine(fresh_home)
    engine.add_events(_log())
    engine.refresh()
    state = engine.state
    index, graph = state.index, state.graph
    first = fit_adapter(index, graph.query_vectors, graph.weights, DEFAULTS["search"])
    second = fit_adapter(index, graph.query_vectors, graph.weights, DEFAULTS["search"])
    dim = index.vectors.shape[1]
    assert first.projection.shape == (dim, dim) and np.abs(first.projection).sum() > 0
    assert np.array_equal(first.projection, second.projection)
    assert np.array_equal(first.offsets, second.offsets)
    assert list(first.rows) == index.cap_rows[CHOSEN]  # the only artifact in this log
    assert state.adapter is not None  # the engine fitted one at the build
    engine.close()


def test_no_log_or_no_steps_means_no_adapter(indexed_home, model):
    engine = Engine(indexed_home)
    state = engine.state
    assert state.adapter is None  # no events: the ranking is the cold one
    empty = sparse.csr_matrix((0, len(state.index.artifacts)))
    assert fit_adapter(state.index, np.zeros((0, 384), np.float32), empty, DEFAULTS["search"]) is None
    engine.close()


def test_learned_offsets_lift_the_chosen_artifact_for_new_wordings(fresh_home, model):
    """Only the adapter on (walk and task share off): a request worded differently from every past
    one still ranks the artifact this log chose higher than before."""
    only_adapter = {"search": {"w_task": 0.0, "w_prior": 0.0}}
    engine = Engine(fresh_home, overrides=only_adapter)
    query = "I need captions for a recorded conference session"

    def position() -> int:
        ids = [r.artifact_id for r in engine.search(query, k=60, record=False).results]
        return ids.index(CHOSEN)

    before = position()
    engine.add_events(_log())
    engine.refresh()
    after = position()
    assert after < before, (before, after)
    top = engine.search(query, k=60, record=False).results[after]
    assert top.signals.graph > 0
    engine.close()


def test_adapter_steps_zero_turns_learning_off(fresh_home, model):
    engine = Engine(fresh_home, overrides={"search": {"adapter_steps": 0}})
    engine.add_events(_log())
    engine.refresh()
    assert engine.state.adapter is None
    engine.close()


def test_a_fit_is_stored_in_the_home_and_reused(fresh_home, model, monkeypatch):
    """Every CLI command builds its state anew: the same catalog and log load the stored fit."""
    first = Engine(fresh_home)
    first.add_events(_log())
    fitted = first.state.adapter
    first.close()
    assert len(list((fresh_home / "adapters").glob("*.npz"))) == 1

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted although this fit is stored")

    monkeypatch.setattr("matchgraph.learn.fits.learn", no_fit)
    second = Engine(fresh_home)
    loaded = second.state.adapter
    assert np.array_equal(loaded.projection, fitted.projection)
    assert np.array_equal(loaded.offsets, fitted.offsets) and np.array_equal(loaded.rows, fitted.rows)
    second.close()


def test_capability_budget_keeps_logged_rows_and_the_nearest(fresh_home, model):
    """Past adapter_max_capabilities the softmax runs over a subset; the fit still moves the logged
    artifact for its own requests."""
    engine = Engine(fresh_home, overrides={"search": {"adapter_max_capabilities": 40}})
    engine.add_events(_log())
    state = engine.state
    assert len(state.index.vectors) > 40
    adapter = state.adapter
    assert list(adapter.rows) == state.index.cap_rows[CHOSEN]
    query = engine.embedder().encode_query(WORDINGS[0])
    general, personal = adapter.scores(state.index, query)
    position = state.index.position[CHOSEN]
    assert personal[position] > general[position]
    engine.close()


def test_a_log_over_more_capabilities_than_the_budget_fits_the_heaviest(indexed_home, model):
    """When the capabilities the log's weight goes to are more than adapter_max_capabilities, the
    fit keeps those with the most weight; queries left without any are not fitted."""
    engine = Engine(indexed_home)
    index = engine.state.index
    artifacts = [CHOSEN] + [a for a in index.ids if a != CHOSEN][:2]  # CHOSEN has the most weight
    vectors = engine.embedder().encode([WORDINGS[0], "read a scanned page", "draw a picture"])
    weights = sparse.csr_matrix(([3.0, 1.0, 1.0], ([0, 1, 2], [index.position[a] for a in artifacts])),
                                shape=(3, len(index.ids)), dtype=np.float32)
    conf = {**DEFAULTS["search"], "adapter_max_capabilities": 1, "adapter_steps": 5}
    adapter = fit_adapter(index, vectors, weights, conf)
    assert len(adapter.rows) == 1 and adapter.rows[0] in index.cap_rows[CHOSEN]
    assert np.isfinite(adapter.projection).all() and np.isfinite(adapter.offsets).all()
    engine.close()


def test_a_server_refits_at_most_every_adapter_refit_seconds(fresh_home, model):
    """New events reach the graph at each refresh; the fit is kept until it is due, and an
    explicit refresh() refits."""
    engine = Engine(fresh_home, overrides={"search": {"adapter_refit_seconds": 3600}}, refresh_seconds=0.01)
    engine.add_events(_log())
    first = engine.state
    engine.add_events([{"query": "speak this paragraph aloud", "artifact_id": "coqui/XTTS-v2",
                        "kind": "select", "event_id": "tts-0"}])
    time.sleep(0.05)
    second = engine.state
    assert second.graph is not first.graph and second.graph.signature != first.graph.signature
    assert second.adapter is first.adapter
    engine.refresh()
    third = engine.state
    assert third.adapter is not first.adapter
    assert set(third.adapter.rows) > set(first.adapter.rows)  # the new artifact got offsets
    engine.close()


def test_pruning_clears_what_a_crashed_save_left_behind(tmp_path):
    """Temporaries and an encoder folder without its .npz (an older version's fine-tuned encoder)
    go once stale; a save that may still be
    running (young temporaries) and complete fits stay."""
    (tmp_path / "a.npz").write_bytes(b"fit")
    (tmp_path / "a.encoder").mkdir()
    crashed = [tmp_path / "b.npz1.partial", tmp_path / "c.encoder2.partial", tmp_path / "d.encoder"]
    crashed[0].write_bytes(b"half")
    crashed[1].mkdir()
    (crashed[1] / "model.safetensors").write_bytes(b"half")
    crashed[2].mkdir()
    running = tmp_path / "e.npz3.partial"
    running.write_bytes(b"being written")
    now = time.time()
    for path in crashed:
        os.utime(path, (now - STALE_SECONDS - 1, now - STALE_SECONDS - 1))
    prune_fits(tmp_path, now)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.encoder", "a.npz", "e.npz3.partial"]
