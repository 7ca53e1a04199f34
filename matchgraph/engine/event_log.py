"""The stored event log: ingest a JSONL file, add a batch (POST /api/events), audit bursts and
purge events. Mixed into Engine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..core.errors import NoIndex, ValidationFailed
from ..core.events import (
    EventConflict,
    check_events,
    client_key,
    iter_events,
    normalize_query,
    read_log,
    validate_batch,
)
from ..retrieval.index import COLUMNS
from ..store import SQLStore
from ..store.versions import IndexVersions
from .state import State


class EventLog:
    """Writing and pruning the event log (mixed into Engine, whose __init__ sets the attributes
    below). The served graph takes new events in at its next refresh (engine/state.py)."""

    home: Path
    config: dict
    store: SQLStore
    versions: IndexVersions
    _state: State | None

    def ingest(self, path: str | Path, progress: bool = False) -> dict[str, int]:
        """Store the events of a JSONL log, all or nothing.

        The file is read twice: once to validate every line (any problem rejects the file and
        nothing is stored), then streamed into one store transaction, so a log of millions of
        lines never sits in memory.
        """
        known = self._known_ids()
        line_bytes = self.config["limits"]["line_bytes"]
        total = check_events(read_log(path, line_bytes), known)
        try:
            if not progress or total <= 10_000:
                new = self.store.add_events(iter_events(read_log(path, line_bytes)))
            else:
                from ..core.progress import progress_bar

                with progress_bar(f"storing {total} events", total) as advance:
                    new = self.store.add_events(_advancing(iter_events(read_log(path, line_bytes)), advance))
        except EventConflict as exc:
            places = [place for place, raw in read_log(path, line_bytes)
                      if isinstance(raw, dict) and raw.get("event_id") == exc.event.event_id]
            raise _located(exc, places) from None
        return {"received": total, "new": new, "duplicates": total - new}

    def add_events(self, items: list[dict]) -> dict[str, int]:
        """Store a batch of events (POST /api/events); rejected whole when any item is bad."""
        events = validate_batch(((f"events[{i}]", raw) for i, raw in enumerate(items)), self._known_ids(),
                                request=True)
        try:
            new = self.store.add_events(events)
        except EventConflict as exc:
            places = [f"events[{i}]" for i, e in enumerate(events) if e.event_id == exc.event.event_id]
            raise _located(exc, places) from None
        return {"received": len(events), "new": new, "duplicates": len(events) - new}

    def _known_ids(self) -> set[str]:
        """Artifact ids of the current index version, without building graph or adapter (an
        ingest must not wait for them): from the served state when it is current, else from the
        version's catalog file."""
        current = self.versions.current()
        if current is None:
            raise NoIndex(f"no index in {self.home}; run `matchgraph index --catalog PATH` first")
        state = self._state
        if state is not None and state.index.version == current[0]:
            return set(state.index.position)
        return set(json.loads((current[1] / COLUMNS).read_text())["id"])

    # -- audit and purge ------------------------------------------------------------------------
    def event_bursts(self, hours: float = 24.0, min_events: int = 10, limit: int = 50) -> list[dict]:
        """Groups of events of the last `hours` sharing a client and a normalized query with at
        least `min_events` events, most first (store.event_bursts)."""
        if hours <= 0 or min_events < 1 or limit < 1:
            raise ValidationFailed("events audit", ["--hours, --min-events and --limit must be above 0"])
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        return self.store.event_bursts(since, min_events, limit)

    def client_bursts(self, hours: float = 24.0, min_queries: int = 10, limit: int = 50) -> list[dict]:
        """Clients that recorded at least `min_queries` distinct queries in the last `hours`, most
        first (store.client_bursts): many different searches from one client, each stored once."""
        if hours <= 0 or min_queries < 1 or limit < 1:
            raise ValidationFailed("events audit", ["--hours, --min-events and --limit must be above 0"])
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        return self.store.client_bursts(since, min_queries, limit)

    def purge_events(self, query: str | None = None, artifact: str | None = None,
                     client: str | None = None, before: datetime | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        """Delete the stored events that match every given criterion: `query` (compared
        normalized), `artifact` (an id, as stored: artifacts no longer in the catalog too),
        `client` (a client key, or the address it was derived from), `before` (a time). The graph
        and scores forget them at the next refresh (a CLI command: at once). Returns
        {"matched", "purged", "criteria"}."""
        if not any(v is not None for v in (query, artifact, client, before)):
            raise ValidationFailed("events purge", ["give at least one of --query, --artifact, "
                                                    "--client, --before"])
        norm = normalize_query(query) if query is not None else None
        if query is not None and not norm:
            raise ValidationFailed("events purge", ["--query: needs at least one letter or digit"])
        if before is not None and before.tzinfo is None:
            before = before.replace(tzinfo=timezone.utc)
        key = client_key(client) if client is not None else None
        criteria = {"query": norm, "artifact": artifact, "client": key,
                    "before": before.isoformat() if before else None}
        count = self.store.purge_events(norm, artifact, key, before, dry_run=dry_run)
        return {"matched": count, "purged": 0 if dry_run else count, "criteria": criteria}


def _located(conflict: EventConflict, places: list[str]) -> ValidationFailed:
    """The conflict's message with the places (file:line or events[i]) holding that event_id."""
    where = f"{places[-1]}: " if places else ""
    also = f" (also at {', '.join(places[:-1])})" if len(places) > 1 else ""
    return ValidationFailed("events rejected, nothing was stored", [f"{where}{conflict.detail}{also}"])


def _advancing(items, advance, every: int = 10_000):
    """Pass items through, advancing a progress bar every `every` items."""
    for count, item in enumerate(items, start=1):
        if count % every == 0:
            advance(every)
        yield item
