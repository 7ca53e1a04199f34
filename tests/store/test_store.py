"""The store suite: every test runs on SQLite and on PostgreSQL (fixture `store_url`), and the
congruence tests run the same operations on both and compare the answers."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from conftest import DEMO_LOG, SD, TROCR
from sqlalchemy import select

from matchgraph import Engine
from matchgraph.core.catalog import Artifact
from matchgraph.core.errors import ValidationFailed
from matchgraph.core.events import Event, EventConflict, EventIn, finish
from matchgraph.store import create_store
from matchgraph.store.schema import artifacts as artifacts_table
from matchgraph.store.schema import events as events_table
from matchgraph.store.sql import head_revision

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def ev(query: str, artifact_id: str, kind: str = "match", event_id: str | None = None,
       capability_id: str | None = None, minutes: int = 0) -> Event:
    return finish(EventIn(query=query, artifact_id=artifact_id, kind=kind, event_id=event_id,
                          capability_id=capability_id, ts=T0 + timedelta(minutes=minutes)))


def sample_events() -> list[Event]:
    return [
        ev("Read handwritten letters", TROCR, "match", "e1", "htr", 0),
        ev("read handwritten   letters!", TROCR, "select", "e2", "htr", 1),
        ev("read handwritten letters", SD, "match", "e3", None, 2),
        ev("make a picture from a sentence", SD, "select", "e4", "t2i", 3),
        ev("make a picture from a sentence", SD, "match", "e5", "t2i", 4),
        ev("make a picture from a sentence", TROCR, "match", "e6", None, 5),
    ]


def artifact(aid: str, name: str, caps: int = 1, **extra) -> Artifact:
    return Artifact(id=aid, name=name, capabilities=[{"id": f"c{i}", "title": f"cap {i} of {name}"}
                                                     for i in range(caps)], **extra)


@pytest.fixture
def store(store_url):
    s = create_store(store_url)
    yield s
    s.close()


def test_new_store_is_created_at_head(store):
    assert store.current_revision() == head_revision()
    assert store.event_count() == 0
    assert store.versions() == []
    assert store.times_matched() == {}
    assert list(store.edge_counts()) == []


def test_events_idempotent_by_event_id(store):
    events = sample_events()
    assert store.add_events(events) == 6
    assert store.add_events(events) == 0  # the same ids again: nothing new
    assert store.add_events(events[:2] + [ev("something new", TROCR, event_id="e7")]) == 1
    assert store.event_count() == 7


def test_content_ids_make_resends_idempotent(store):
    """Events sent without an event_id get a hash of their content: sending twice counts once."""
    first = [finish(EventIn(query="Read letters", artifact_id=TROCR, ts=T0))]
    again = [finish(EventIn(query="read  letters", artifact_id=TROCR, ts=T0))]
    assert first[0].event_id == again[0].event_id
    assert store.add_events(first) == 1
    assert store.add_events(again) == 0


def test_batch_with_duplicate_inside(store):
    events = sample_events()
    batch = events + [events[0], events[3].model_copy(update={"query": "changed text"})]
    assert store.add_events(batch) == 6
    assert store.event_count() == 6
    with store.engine.connect() as conn:  # the first copy of e4 won, the later one was skipped
        assert conn.execute(select(events_table.c.query).where(events_table.c.event_id == "e4")
                            ).scalar_one() == "make a picture from a sentence"


def test_large_batch_with_duplicates_across_chunks(store):
    """Big batches take the bulk path (COPY on PostgreSQL) and still skip every duplicate."""
    events = [ev(f"query {i % 300}", f"a{i % 70}", "select" if i % 4 == 0 else "match", f"id{i:05d}")
              for i in range(3000)]
    store.add_events(events[:500])
    doubled = events + events[1000:2200]  # duplicates of stored ids and inside the batch
    assert store.add_events(doubled, batch_size=1200) == 2500
    assert store.event_count() == 3000
    assert sum(store.times_matched().values()) == 3000
    assert sum(m for *_, m, _ in store.edge_counts()) == 3000
    assert sum(s for *_, s in store.edge_counts()) == 750


def test_failed_batch_stores_nothing(store):
    events = sample_events()

    def broken():  # the source dies after the first chunk was already sent to the database
        yield from events
        raise RuntimeError("log file vanished")

    with pytest.raises(RuntimeError):
        store.add_events(broken(), batch_size=2)
    assert store.event_count() == 0

    bad = Event.model_construct(**{**events[0].model_dump(), "event_id": "bad", "query": None})
    with pytest.raises(Exception):  # NOT NULL violated in the database, after good rows went in
        store.add_events(events + [bad], batch_size=4)
    assert store.event_count() == 0
    assert store.add_events(events) == 6  # the store is still usable


def test_failed_bulk_batch_stores_nothing(store):
    events = [ev(f"q{i}", "a", "match", f"bulk{i}") for i in range(2500)]
    bad = Event.model_construct(**{**events[0].model_dump(), "event_id": "bad", "query": None})
    with pytest.raises(Exception):
        store.add_events(events + [bad], batch_size=1500)
    assert store.event_count() == 0


def test_aggregations(store):
    store.add_events(sample_events())
    edges = sorted(store.edge_counts())
    assert edges == sorted([
        ("make a picture from a sentence", SD, 2, 1),
        ("make a picture from a sentence", TROCR, 1, 0),
        ("read handwritten letters", SD, 1, 0),
        ("read handwritten letters", TROCR, 2, 1),  # two spellings, one normalized query
    ])
    assert sorted(store.capability_counts()) == sorted([  # (query, artifact, capability, events, selects)
        ("make a picture from a sentence", SD, "t2i", 2, 1),
        ("read handwritten letters", TROCR, "htr", 2, 1),
    ])
    assert store.times_matched() == {TROCR: 3, SD: 3}  # a select counts as a match
    texts = store.query_texts()
    assert set(texts) == {"read handwritten letters", "make a picture from a sentence"}
    assert texts["make a picture from a sentence"] == "make a picture from a sentence"


def test_events_signature_changes_with_every_new_event(store):
    before = store.events_signature()
    store.add_events(sample_events())
    after = store.events_signature()
    assert after[0] == 6 and after != before
    assert after[1] == str(T0 + timedelta(minutes=5))
    store.add_events(sample_events())
    assert store.events_signature() == after  # duplicates change nothing
    store.add_events([ev("late", SD, event_id="late", minutes=60)])
    assert store.events_signature() == (7, str(T0 + timedelta(minutes=60)))


def test_timestamps_with_offsets_are_stored_as_utc(store):
    paris = timezone(timedelta(hours=2))
    store.add_events([finish(EventIn(query="q", artifact_id="a", event_id="tz",
                                     ts=datetime(2024, 6, 1, 14, 0, tzinfo=paris)))])
    assert store.events_signature()[1] == str(datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc))


def test_embedding_cache_round_trip(store):
    rng = np.random.default_rng(0)
    vectors = {f"h{i:04d}": rng.standard_normal(384).astype(np.float32) for i in range(1200)}
    store.put_vectors("model-a", vectors)
    found = store.get_vectors("model-a", sorted(vectors) + ["missing"])  # > one 500-hash chunk
    assert set(found) == set(vectors)
    for key, vector in vectors.items():
        assert found[key].dtype == np.float32
        np.testing.assert_array_equal(found[key], vector)
    assert store.get_vectors("model-b", list(vectors)[:5]) == {}  # cached per model
    store.put_vectors("model-a", {"h0000": np.zeros(384, np.float32)})  # existing: kept as is
    np.testing.assert_array_equal(store.get_vectors("model-a", ["h0000"])["h0000"], vectors["h0000"])
    store.put_vectors("model-a", {})


def test_replace_artifacts(store):
    store.replace_artifacts([artifact(TROCR, "trocr", 2, pricing="free", task="image-to-text"),
                             artifact(SD, "stable-diffusion", kind="model")])
    store.replace_artifacts([artifact(SD, "stable-diffusion v2", 3, pricing="freemium"),
                             artifact("org/new.tool", "new tool", kind="tool")])
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(artifacts_table))}
    assert set(rows) == {SD, "org/new.tool"}
    assert rows[SD].name == "stable-diffusion v2" and rows[SD].pricing == "freemium"
    assert len(rows[SD].record["capabilities"]) == 3
    assert Artifact.model_validate(rows[SD].record).content_hash() == rows[SD].content_hash
    assert rows["org/new.tool"].kind == "tool"
    store.replace_artifacts([])
    with store.engine.connect() as conn:
        assert conn.execute(select(artifacts_table)).all() == []


def test_versions(store):
    store.record_version(1, "default", ["/cat/a.jsonl"], 2, 3, 3)
    store.record_version(2, "default", ["/cat/a.jsonl", "/cat/b"], 3, 5, 2)
    versions = store.versions()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["catalog"] == ["/cat/a.jsonl", "/cat/b"]
    assert (versions[0]["artifacts"], versions[0]["capabilities"], versions[0]["embedded"]) == (3, 5, 2)
    assert versions[0]["created_at"].tzinfo is not None
    assert abs(datetime.now(timezone.utc) - versions[0]["created_at"]) < timedelta(minutes=5)
    with pytest.raises(Exception):
        store.record_version(2, "default", [], 0, 0, 0)  # a version number is recorded once


def _script(url: str) -> dict:
    """One run of every store operation; the answers must not depend on the backend."""
    store = create_store(url)
    rng = np.random.default_rng(1)
    out = {"new": [store.add_events(sample_events()), store.add_events(sample_events()[::-1])]}
    bulk = [ev(f"Query number {i % 97}!", f"org/model-{i % 41}", "select" if i % 3 == 0 else "match",
               f"b{i}", f"cap{i % 2}" if i % 5 else None, i % 600) for i in range(2400)]
    out["new"].append(store.add_events(bulk + bulk[:100], batch_size=1000))
    out["count"] = store.event_count()
    out["signature"] = store.events_signature()
    out["edges"] = sorted(store.edge_counts())
    out["caps"] = sorted(store.capability_counts())
    out["times"] = store.times_matched()
    out["texts"] = store.query_texts()
    vectors = {f"h{i}": rng.standard_normal(8).astype(np.float32) for i in range(10)}
    store.put_vectors("m", vectors)
    out["vectors"] = {k: v.tolist() for k, v in store.get_vectors("m", list(vectors)).items()}
    store.record_version(1, "m", ["x"], 1, 2, 3)
    out["versions"] = [{k: v for k, v in row.items() if k != "created_at"} for row in store.versions()]
    clients = [e.model_copy(update={"event_id": f"c{i}", "client": f"ip-{i % 3:016x}"})
               for i, e in enumerate(bulk[:300])]
    out["new"].append(store.add_events(clients))
    out["bursts"] = store.event_bursts(T0 - timedelta(days=1), min_events=3, limit=20)
    out["purged"] = [store.purge_events(client=f"ip-{1:016x}", dry_run=True),
                     store.purge_events(client=f"ip-{1:016x}"),
                     store.purge_events(query_norm="query number 5", artifact_id="org/model-5"),
                     store.purge_events(before=T0 + timedelta(minutes=3))]
    out["purges"] = [{k: v for k, v in row.items() if k != "purged_at"} for row in store.purges()]
    out["after_purge"] = (store.event_count(), sorted(store.edge_counts()), store.aggregates().edges)
    store.close()
    return out


def test_same_event_id_with_other_content_is_refused(store):
    assert store.add_events(sample_events()) == 6
    assert store.add_events(sample_events()) == 0  # the same events again: duplicates
    moved = ev("read handwritten letters", SD, "match", "e1", "htr", 0)  # e1 names another artifact
    with pytest.raises(EventConflict) as err:
        store.add_events([ev("new one", TROCR, event_id="e-new"), moved])
    assert "'e1'" in err.value.detail and "artifact_id" in err.value.detail and TROCR in err.value.detail
    assert store.event_count() == 6  # the batch was refused whole
    twice = [ev("a query", TROCR, event_id="dup", minutes=1), ev("a query", TROCR, event_id="dup", minutes=2)]
    with pytest.raises(EventConflict, match="ts"):
        store.add_events(twice)
    again = finish(EventIn(query="a query", artifact_id=TROCR, event_id="no-ts"))
    later = finish(EventIn(query="a query", artifact_id=TROCR, event_id="no-ts"))
    assert store.add_events([again]) == 1 and store.add_events([later]) == 0  # a retry, not a conflict


def test_purge_makes_the_next_aggregate_a_full_read(store):
    store.add_events(sample_events())
    first = store.aggregates()
    assert store.purge_events(artifact_id=SD) == 3
    store.add_events([ev("one more", TROCR, event_id=f"x{i}") for i in range(5)])  # count is back up
    after = store.aggregates(first.cursor)
    assert after.complete and sorted(after.edges) == sorted(store.edge_counts())
    assert all(artifact != SD for _, artifact, _, _ in after.edges)
    assert store.aggregates(after.cursor).edges == [] and not store.aggregates(after.cursor).complete
    with pytest.raises(ValidationFailed):  # a typed error: the CLI reports it as usage (exit 2)
        store.purge_events()


@pytest.mark.postgres
def test_congruence_sqlite_and_postgresql(tmp_path, pg_url):
    lite = _script(f"sqlite:///{tmp_path / 'congruence.db'}")
    pg = _script(pg_url)
    assert lite["new"] == [6, 0, 2400, 300]
    assert lite["bursts"] and lite["purged"][0] == lite["purged"][1] == 100 and lite["purges"][-1]["events"] == 100
    for key in lite:
        assert lite[key] == pg[key], key


@pytest.mark.postgres
def test_engine_on_postgresql_matches_sqlite(fresh_home, pg_url, model):
    """The demo catalog and log give the same results and Times Matched on both stores."""
    lite = Engine(fresh_home)
    pg = Engine(fresh_home, overrides={"database_url": pg_url})
    try:
        assert pg.store.dialect == "postgresql" and lite.store.dialect == "sqlite"
        assert lite.ingest(DEMO_LOG) == pg.ingest(DEMO_LOG)
        assert pg.ingest(DEMO_LOG)["new"] == 0
        assert lite.stats()["events"] == pg.stats()["events"] > 0
        assert lite.state.graph.times_matched == pg.state.graph.times_matched
        assert lite.state.scores == pg.state.scores
        for query in ("read handwritten letters", "make a picture from a sentence",
                      "transcribe speech to text", "stable diffusion"):
            a = lite.search(query, k=5, record=False).model_dump()
            b = pg.search(query, k=5, record=False).model_dump()
            assert [r["artifact_id"] for r in a["results"]] == [r["artifact_id"] for r in b["results"]]
            for ra, rb in zip(a["results"], b["results"]):
                assert ra["score"] == pytest.approx(rb["score"], abs=1e-5)
        # recorded searches land in the PostgreSQL store and reach Times Matched
        before = pg.state.graph.times_matched.get(TROCR, 0)
        top = pg.search("read handwritten letters", k=5).results
        assert pg.state.graph.times_matched.get(TROCR, 0) == before + any(
            r.artifact_id == TROCR for r in top)
        assert lite.store.event_count() + len(top[:5]) == pg.store.event_count()
    finally:
        lite.close()
        pg.close()



def test_aggregates_since_a_cursor_return_only_newer_events(store):
    first = sample_events()[:3]
    assert store.add_events(first) == 3
    full = store.aggregates()
    assert sorted(full.edges) == sorted(store.edge_counts())
    assert sorted(full.capabilities) == sorted(store.capability_counts())
    assert full.texts == store.query_texts()
    assert store.max_seq() >= 3
    assert store.aggregates(full.cursor).edges == []
    store.add_events(sample_events())  # e1-e3 again (skipped) and e4-e6
    later = store.aggregates(full.cursor)
    assert sorted(later.edges) == sorted([("make a picture from a sentence", SD, 2, 1),
                                          ("make a picture from a sentence", TROCR, 1, 0)])
    assert later.capabilities == [("make a picture from a sentence", SD, "t2i", 2, 1)]
    assert set(later.texts) == {"make a picture from a sentence"}
    assert store.aggregates(later.cursor).edges == [] and not store.aggregates(later.cursor).complete
    # a cursor this store cannot continue from (other backend, or from the future): a full read
    for cursor in ("pg:1:2:3" if store.dialect == "sqlite" else "seq:1", "seq:99999", "pg:9999999:9999999:",
                   "pg:1:2:3'; DROP TABLE events; --"):
        again = store.aggregates(cursor)
        assert again.complete and sorted(again.edges) == sorted(store.edge_counts())


@pytest.mark.postgres
def test_aggregates_never_miss_a_transaction_that_commits_late(pg_url):
    """Sequence values are handed out at insert time, commits happen in any order: a writer that
    inserted first (lower seq) and commits after a later writer must still be read exactly once."""
    store = create_store(pg_url)
    store.add_events([ev("first query", TROCR, event_id="a0")])
    start = store.aggregates()
    inserted, release = threading.Event(), threading.Event()

    def slow():  # holds its transaction open after inserting (rows have the lower seqs)
        def events():
            yield ev("slow writer", TROCR, event_id="slow-1")
            inserted.set()
            release.wait(10)
        store.add_events(events(), batch_size=1)

    thread = threading.Thread(target=slow)
    thread.start()
    assert inserted.wait(10)
    time.sleep(0.2)  # the slow row is inserted (batch_size=1 flushes at once), not committed
    store.add_events([ev("fast writer", SD, event_id="fast-1")])  # higher seq, commits first
    middle = store.aggregates(start.cursor)
    assert [e[0] for e in middle.edges] == ["fast writer"]
    release.set()
    thread.join()
    late = store.aggregates(middle.cursor)
    assert [e[0] for e in late.edges] == ["slow writer"]  # not missed, fast-1 not read twice
    assert store.aggregates(late.cursor).edges == []
    with store.engine.connect() as conn:
        seqs = dict(conn.execute(select(events_table.c.event_id, events_table.c.seq)).all())
    assert seqs["slow-1"] < seqs["fast-1"]  # the case "seq > last seen" gets wrong
    store.close()


def test_rows_inserted_without_a_seq_get_one(store):
    """A row written by something other than add_events (SQL by hand) is numbered too."""
    from sqlalchemy import text

    store.add_events(sample_events()[:2])
    before = store.aggregates()
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO events (event_id, query, query_norm, artifact_id, kind, ts) "
                          "VALUES ('by-hand', 'By hand', 'by hand', 'a/b', 'match', '2024-05-01 10:00:00')"))
    store.add_events(sample_events()[2:4])
    with store.engine.connect() as conn:
        seqs = [s for (s,) in conn.execute(select(events_table.c.seq).order_by(events_table.c.seq))]
    assert None not in seqs and len(set(seqs)) == 5
    assert {e[0] for e in store.aggregates(before.cursor).edges} == {
        "by hand", "read handwritten letters", "make a picture from a sentence"}
