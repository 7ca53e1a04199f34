"""Several API processes on one PostgreSQL store: overlapping event batches from several clients
at once are stored exactly once (idempotency by event_id is the database's job).

Starts 4 real `uvicorn api.app:create_app --factory` processes (separate Python processes, each
with its own Engine and connection pool) on one PostgreSQL schema, like `--scale api=4`.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from conftest import CATALOG, free_ports, running_servers
from sqlalchemy import func, select

from matchgraph.core.catalog import load_catalog
from matchgraph.core.events import EventIn, finish
from matchgraph.store import create_store
from matchgraph.store.schema import events as events_table

TOKEN = "concurrency-test-token"
PROCESSES = 4
CLIENTS = 6
DISTINCT = 2400  # events with an explicit event_id
HASHED = 200  # events without one: their id is a hash of the content, sent by several clients
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # four API processes at once


@pytest.fixture
def servers(fresh_home, pg_url):
    """4 API processes on the demo index (shared home folder) and one PostgreSQL schema."""
    env = {**os.environ, "MATCHGRAPH_HOME": str(fresh_home), "MATCHGRAPH_DATABASE_URL": pg_url,
           "MATCHGRAPH_TOKEN": TOKEN, "MATCHGRAPH_GRAPH__REFRESH_SECONDS": "3",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # as in docker-compose: the schema is migrated once (the indexer job), then the APIs start
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "matchgraph"), "db", "upgrade"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ports = free_ports(PROCESSES)
    commands = [[sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(port), "--log-level", "warning"] for port in ports]
    with running_servers(commands, [f"http://127.0.0.1:{port}" for port in ports], env,
                         fresh_home.parent) as urls:
        yield urls


def make_events(artifact_ids: list[str]) -> tuple[list[dict], list[dict]]:
    rng = random.Random(11)
    queries = [f"find a model for task {i}" for i in range(120)]
    with_id = [{"query": rng.choice(queries), "artifact_id": rng.choice(artifact_ids),
                "kind": rng.choice(["match", "match", "select"]), "event_id": f"ev-{i:05d}",
                "ts": (T0 + timedelta(seconds=i)).isoformat()} for i in range(DISTINCT)]
    hashed = [{"query": f"hashed query {i % 37}", "artifact_id": artifact_ids[i % len(artifact_ids)],
               "kind": "select", "ts": (T0 + timedelta(minutes=i)).isoformat()} for i in range(HASHED)]
    return with_id, hashed


def client_batches(client: int, with_id: list[dict], hashed: list[dict]) -> list[list[dict]]:
    """Every client sends every event at least once in its own order and batch sizes, plus
    repeats of others' ranges and duplicates inside a batch."""
    rng = random.Random(client)
    items = with_id + hashed
    order = items[:]
    rng.shuffle(order)
    batches, i = [], 0
    while i < len(order):
        size = rng.randint(20, 180)
        batch = order[i:i + size]
        if rng.random() < 0.3:
            batch = batch + rng.sample(batch, min(5, len(batch)))  # duplicates inside the batch
        if rng.random() < 0.3:
            start = rng.randrange(len(items))
            batch = batch + items[start:start + 40]  # overlap with what other clients send
        batches.append(batch)
        i += size
    return batches


def test_four_api_processes_store_every_event_exactly_once(servers, pg_url):
    artifact_ids = sorted(a.id for a in load_catalog([CATALOG]))
    with_id, hashed = make_events(artifact_ids)
    expected_ids = {e["event_id"] for e in with_id} | {finish(EventIn.model_validate(e)).event_id
                                                        for e in hashed}
    assert len(expected_ids) == DISTINCT + HASHED

    # writes need the token: nothing is stored without it, on any process
    body = {"events": with_id[:3]}
    assert httpx.post(f"{servers[0]}/api/events", json=body, timeout=30).status_code == 401
    wrong = httpx.post(f"{servers[1]}/api/events", json=body, timeout=30,
                       headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403

    def run_client(client: int) -> tuple[int, int, Counter]:
        new = received = 0
        hits: Counter = Counter()
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http:
            for n, batch in enumerate(client_batches(client, with_id, hashed)):
                url = servers[(client + n) % len(servers)]
                response = http.post(f"{url}/api/events", json={"events": batch})
                assert response.status_code == 200, response.text
                result = response.json()
                assert result["received"] == len(batch)
                assert result["new"] + result["duplicates"] == len(batch)
                new += result["new"]
                received += len(batch)
                hits[url] += 1
        return new, received, hits

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(run_client, range(CLIENTS)))

    total_new = sum(new for new, _, _ in outcomes)
    total_received = sum(received for _, received, _ in outcomes)
    hits = sum((h for _, _, h in outcomes), Counter())
    assert set(hits) == set(servers)  # every process took part
    assert total_received > 2 * CLIENTS * len(expected_ids) // 2

    store = create_store(pg_url)
    try:
        with store.engine.connect() as conn:
            stored = conn.execute(select(events_table.c.event_id)).scalars().all()
            by_artifact = dict(conn.execute(select(events_table.c.artifact_id, func.count())
                                            .group_by(events_table.c.artifact_id)).all())
        assert len(stored) == len(set(stored))  # no duplicates
        assert set(stored) == expected_ids  # no loss
        assert total_new == len(expected_ids)  # each event was "new" in exactly one response
        expected_by_artifact = Counter(e["artifact_id"] for e in with_id + hashed)
        assert by_artifact == dict(expected_by_artifact)
        assert store.times_matched() == dict(expected_by_artifact)
    finally:
        store.close()

    # every process sees all of them (graph refresh interval 3 s)
    deadline = time.monotonic() + 60
    for url in servers:
        while True:
            stats = httpx.get(f"{url}/api/stats", timeout=30).json()
            if stats["events"] == len(expected_ids) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert stats["events"] == len(expected_ids), url
