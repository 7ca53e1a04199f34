"""Incremental graph refresh: a build that reads only the events stored since the previous one
must equal a full build over all events, on both backends, including near-duplicate queries that
arrive later (and merge groups or change their representative), events of artifacts that are not
in the catalog, and concurrent writers on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import SD, TROCR

from matchgraph import Engine
from matchgraph.core.events import Event, EventIn, finish, normalize_query
from matchgraph.graph.build import build_match_graph

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
# A and B are near-identical texts (ratio >= 92) whose vectors are not close (cosine < 0.5): they
# stay two groups until C, close to both, arrives and joins them; C sorts first, so it becomes
# the representative of the merged group.
A = "convert scanned handwritten letters into plain text"
B = "convrt scaned handwriten leters into plan txt"
C = "convert scaned handwriten letters into plain txt"


def ev(query: str, artifact_id: str, n: int, kind: str = "match", capability_id: str | None = None) -> Event:
    return finish(EventIn(query=query, artifact_id=artifact_id, kind=kind, capability_id=capability_id,
                          event_id=f"{query}|{artifact_id}|{kind}|{n}", ts=T0 + timedelta(seconds=n)))


def engine_on(home, store_url: str) -> Engine:
    if store_url.startswith("sqlite"):
        return Engine(home)  # the home's own SQLite file
    return Engine(home, overrides={"database_url": store_url})


def full_build(engine: Engine):
    index = engine.state.index
    return build_match_graph(engine.store, index, engine.embedder(index.manifest["model"]), engine.config)


def assert_same(incremental, full) -> None:
    assert incremental.queries == full.queries
    assert incremental.aliases == full.aliases
    assert incremental.edges == full.edges
    assert incremental.capability_edges == full.capability_edges
    assert incremental.times_matched == full.times_matched
    assert incremental.selects == full.selects
    assert incremental.labels == full.labels
    assert incremental.weights.shape == full.weights.shape
    assert (incremental.weights != full.weights).nnz == 0
    assert (incremental.query_ann.size if incremental.query_ann else 0) == \
        (full.query_ann.size if full.query_ann else 0)
    assert incremental.network.number_of_edges() == full.network.number_of_edges()


def spy_on_reads(engine: Engine) -> list:
    """Record the `since` cursor of every aggregation the engine's store runs."""
    calls: list = []
    real = engine.store.aggregates

    def aggregates(since=None):
        calls.append(since)
        return real(since)

    engine.store.aggregates = aggregates
    return calls


def test_refreshes_after_each_ingest_equal_one_full_build(fresh_home, store_url):
    engine = engine_on(fresh_home, store_url)
    reads = spy_on_reads(engine)
    caps = {TROCR: engine.resolve(TROCR).capabilities[0].id, SD: engine.resolve(SD).capabilities[0].id}
    batches = [
        [ev("read handwritten letters", TROCR, 1, "select", caps[TROCR]),
         ev("read handwritten letters", SD, 2), ev(A, TROCR, 3), ev("make a picture", SD, 4, "select")],
        # near-duplicates later: B stays apart from A, a typo of an existing query joins its group
        [ev(B, TROCR, 5, "select", caps[TROCR]), ev("read handwriten letters", TROCR, 6),
         ev("read handwritten letters", TROCR, 7, "match", caps[TROCR]),
         ev("make a picture", SD, 4, "select"),  # a duplicate event: counted once
         ev("no longer in the catalog", "gone/model", 8), ev("make a picture", "gone/model", 9)],
        # C bridges A and B and becomes their representative; more counts on existing edges
        [ev(C, SD, 10, "select", caps[SD]), ev(A, TROCR, 11), ev(B, TROCR, 12),
         ev("make a picture", SD, 13, "match", caps[SD]), ev("read handwritten letters", SD, 14, "select")],
        [],  # nothing new
        [ev("Read handwritten letters!", TROCR, 15, "select"), ev("a brand new query", SD, 16)],
    ]
    assert engine.state.graph.empty
    for batch in batches:
        engine.store.add_events(batch)
        reads.clear()
        engine.refresh()
        assert len(reads) == 1 and reads[0] is not None  # incremental: read since the last build
        assert_same(engine.state.graph, full_build(engine))
    graph = engine.state.graph
    assert graph.aliases[normalize_query(A)] == graph.aliases[normalize_query(B)] == normalize_query(C)
    assert graph.aliases["read handwriten letters"] == "read handwriten letters"  # sorts first
    assert graph.aliases["read handwritten letters"] == "read handwriten letters"
    assert "gone/model" in graph.times_matched and all(a != "gone/model" for _, a in graph.edges)
    assert graph.times_matched[TROCR] == 8 and graph.selects[SD] == 3
    engine.close()


def test_a_new_index_version_rebuilds_in_full(fresh_home, store_url):
    from conftest import CATALOG

    engine = engine_on(fresh_home, store_url)
    engine.store.add_events([ev("read handwritten letters", TROCR, 1)])
    _ = engine.state
    reads = spy_on_reads(engine)
    engine.index([CATALOG])  # a new version of the same catalog
    engine.store.add_events([ev("read handwritten letters", TROCR, 2)])
    assert engine.state.graph.times_matched[TROCR] == 2
    assert reads == [None]
    engine.close()


@pytest.mark.postgres
def test_concurrent_writers_on_postgresql(fresh_home, pg_url):
    """Two writers insert while a third thread refreshes incrementally. One writer keeps its
    transaction open between batches (its sequence values are lower than rows the other commits
    meanwhile): the refreshes must neither miss nor double-count its rows."""
    engine = engine_on(fresh_home, pg_url)
    _ = engine.state
    queries = [f"query number {i} about reading letters" for i in range(12)] + [A, B, C]
    stop = threading.Event()
    errors: list[BaseException] = []

    def slow_writer():
        def events():
            for n in range(600):
                yield ev(queries[n % len(queries)], TROCR if n % 3 else SD, 10_000 + n,
                         "select" if n % 5 == 0 else "match")
                if n % 100 == 99:
                    time.sleep(0.15)  # the transaction stays open, rows already inserted
        try:
            for _ in range(2):
                engine.store.add_events(events(), batch_size=50)  # resent: all duplicates the 2nd time
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def fast_writer():
        try:
            for n in range(60):
                engine.store.add_events([ev(queries[(n * 7) % len(queries)], SD, 20_000 + n),
                                         ev(queries[n % len(queries)], TROCR, 30_000 + n, "select")])
                time.sleep(0.02)
            # one COPY-sized batch too
            engine.store.add_events([ev(queries[n % len(queries)], TROCR, 40_000 + n) for n in range(1500)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def refresher():
        try:
            while not stop.is_set():
                engine.refresh()
                time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (slow_writer, fast_writer)]
    reader = threading.Thread(target=refresher)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    assert not errors, errors
    engine.refresh()
    assert engine.store.event_count() == 600 + 120 + 1500
    assert sum(engine.state.graph.times_matched.values()) == 600 + 120 + 1500
    assert_same(engine.state.graph, full_build(engine))
    engine.close()


def test_deleted_events_or_a_foreign_cursor_fall_back_to_a_full_build(fresh_home, store_url):
    from sqlalchemy import text

    engine = engine_on(fresh_home, store_url)
    engine.store.add_events([ev("read handwritten letters", TROCR, n) for n in range(3)])
    _ = engine.state
    with engine.store.engine.begin() as conn:  # e.g. an archival job removed old events
        conn.execute(text("DELETE FROM events WHERE ts < :t"), {"t": T0 + timedelta(seconds=1)})
    engine.refresh()
    assert engine.state.graph.times_matched[TROCR] == 2
    assert_same(engine.state.graph, full_build(engine))
    engine.store.add_events([ev("read handwritten letters", TROCR, 9)])
    graph = engine.state.graph
    graph.evidence.cursor = "seq:999999" if store_url.startswith("sqlite") else "pg:99999999:99999999:"
    engine.refresh()  # a cursor from the future (database replaced): read everything
    assert engine.state.graph.times_matched[TROCR] == 3
    assert_same(engine.state.graph, full_build(engine))
    engine.close()


def test_random_batches_with_typos_equal_a_full_build(fresh_home):
    """Many small refreshes over random queries with random typos (so groups form, grow, bridge
    and change their representative in every order) end equal to one full build."""
    import random

    rng = random.Random(11)
    bases = ["read old handwritten family letters", "make a picture from a sentence",
             "turn speech recordings into text", "summarize long legal contracts quickly"]

    def typo(text: str) -> str:
        i = rng.randrange(len(text))
        return text[:i] + text[i + 1:] if rng.random() < 0.5 else text[:i] + rng.choice("aeiou") + text[i:]

    engine = Engine(fresh_home)
    pool = list(bases)
    n = 0
    for _ in range(8):
        batch = []
        for _ in range(rng.randrange(1, 12)):
            if rng.random() < 0.4:
                pool.append(typo(rng.choice(pool)))
            n += 1
            batch.append(ev(rng.choice(pool), rng.choice([TROCR, SD, "gone/model"]), n,
                            rng.choice(["match", "select"])))
        engine.store.add_events(batch)
        engine.refresh()
    graph = engine.state.graph
    assert len(set(graph.aliases)) > len(set(graph.aliases.values()))  # some groups did merge
    assert_same(graph, full_build(engine))
    engine.close()
