"""The indexing job: wait for the database, migrate it, index the configured catalog, optionally
ingest a search log, and publish the index into the (shared) home folder.

It is the one-shot `indexer` service of docker-compose.yml (`python -m indexer`); it depends on
matchgraph and nothing depends on it. Re-running it is safe: only new or changed capability texts
are embedded (the cache lives in the store), events are idempotent by event_id, and a new index
version is published atomically while API processes keep serving the previous one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

from matchgraph import Engine
from matchgraph.core.config import home_dir, load_config, store_url
from matchgraph.store import create_store

log = logging.getLogger("indexer")


def wait_for_store(url: str, timeout: float = 120.0, interval: float = 2.0) -> None:
    """Block until the database answers (a fresh postgres container takes a few seconds)."""
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while True:
        store = create_store(url, create=False, check=False)
        try:
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except Exception as exc:  # connection refused, DNS not ready, database starting up ...
            if time.monotonic() >= deadline:
                raise SystemExit(f"indexer: database {store.safe_url} not reachable after "
                                 f"{timeout:.0f} s: {exc}") from exc
            log.info("waiting for %s: %s", store.safe_url, exc.__class__.__name__)
            time.sleep(interval)
        finally:
            store.close()


def run(home: str | Path | None = None, catalog: Sequence[str] | None = None,
        events: str | Path | None = None, model: str | None = None,
        wait_seconds: float = 120.0) -> dict:
    """The whole job; returns a summary {"store", "schema", "index": {...}, "ingest": {...}|None}."""
    home = home_dir(home)
    home.mkdir(parents=True, exist_ok=True)
    config = load_config(home)
    url = store_url(config, home)
    wait_for_store(url, wait_seconds)
    store = create_store(url, create=False, check=False)
    schema = store.upgrade()  # `matchgraph db upgrade`
    safe_url = store.safe_url
    store.close()
    log.info("store %s at schema %s", safe_url, schema)

    engine = Engine(home)
    try:
        catalog = list(catalog or []) or list(config["catalog"]) or None  # None: the last index's paths
        summary = engine.index(catalog, model, progress=True)
        log.info("published index version %s: %s artifacts, %s capabilities, embedded %s",
                 summary["version"], summary["artifacts"], summary["capabilities"], summary["embedded"])
        ingested = None
        if events:
            ingested = engine.ingest(events, progress=True)
            log.info("ingested %s: %s new, %s duplicates", events, ingested["new"], ingested["duplicates"])
        return {"store": safe_url, "schema": schema, "index": summary, "ingest": ingested}
    finally:
        engine.close()
