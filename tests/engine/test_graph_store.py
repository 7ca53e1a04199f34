"""The match graph stored with its index version (graph_store.py): a new process loads it and
folds in only the events stored after it, equal to a full build; a purge, or a graph of another
build of the version, is read in full again; the stored adapter fit is found for the same log."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from conftest import SD, TROCR
from test_incremental import assert_same, ev, full_build, spy_on_reads

from matchgraph import Engine
from matchgraph.graph.stored import graph_path, load_graph

NO_FIT = {"search": {"adapter_steps": 0}}


def _log() -> list:
    return [ev("read handwritten letters", TROCR, 1, "select"), ev("read handwriten letters", TROCR, 2),
            ev("make a picture", SD, 3, "select"), ev("draw a picture of a cat", SD, 4)]


def test_a_new_process_continues_from_the_stored_graph(fresh_home, model):
    first = Engine(fresh_home, overrides=NO_FIT)
    first.store.add_events(_log())
    built = first.state.graph
    path = graph_path(fresh_home, first.state.index)
    assert path.exists()
    first.close()

    second = Engine(fresh_home, overrides=NO_FIT)
    reads = spy_on_reads(second)
    loaded = second.state.graph
    assert len(reads) == 1 and reads[0] is not None  # read since the stored cursor: nothing new
    assert_same(loaded, built)
    assert_same(loaded, full_build(second))
    stamp = path.stat().st_mtime_ns
    second.close()

    # Events after the stored graph: only they are read, and the result is a full build's.
    third = Engine(fresh_home, overrides=NO_FIT)
    third.store.add_events([ev("read handwritten letters", SD, 5), ev("a brand new request", TROCR, 6)])
    reads = spy_on_reads(third)
    graph = third.state.graph
    assert len(reads) == 1 and reads[0] is not None
    assert_same(graph, full_build(third))
    assert graph.times_matched[SD] == 3
    assert path.stat().st_mtime_ns != stamp  # stored again: the next process starts from here
    third.close()


def test_a_purge_or_another_build_of_the_version_reads_every_event_again(fresh_home, model):
    first = Engine(fresh_home, overrides=NO_FIT)
    first.store.add_events(_log())
    _ = first.state
    first.store.purge_events(query_norm="make a picture")
    first.close()

    second = Engine(fresh_home, overrides=NO_FIT)
    reads = spy_on_reads(second)
    graph = second.state.graph
    assert reads == [None]  # events were deleted since the stored graph: a full read
    assert "make a picture" not in graph.queries
    assert_same(graph, full_build(second))
    index = second.state.index
    second.close()

    # A stored graph is for one build of a version: another manifest (a home made again) ignores it.
    assert load_graph(fresh_home, index) is not None
    assert load_graph(fresh_home, replace(index, manifest={**index.manifest, "created_at": "another build"})) is None


def test_the_stored_fit_is_found_for_the_stored_graph(fresh_home, model, monkeypatch):
    conf = {"search": {"adapter_steps": 5}}
    first = Engine(fresh_home, overrides=conf)
    first.store.add_events(_log())
    fitted = first.state.adapter
    first.close()

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted although the log did not change")

    def no_build(*args, **kwargs):
        raise AssertionError("the graph was built again although it is stored")

    monkeypatch.setattr("matchgraph.learn.fits.learn", no_fit)
    monkeypatch.setattr("matchgraph.graph.build.regroup", no_build)
    second = Engine(fresh_home, overrides=conf)
    assert np.array_equal(second.state.adapter.projection, fitted.projection)
    second.close()
