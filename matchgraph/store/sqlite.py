"""The SQLite backend: the embedded default, one file in the home folder, one writer at a time."""

from __future__ import annotations

from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import sqlite

from ..core.events import Event
from .schema import events
from .sql import Aggregates, SQLStore


class SQLiteStore(SQLStore):
    """Events are numbered by the counter table `event_seq`; a cursor is 'seq:N', the highest
    number read."""

    insert = staticmethod(sqlite.insert)

    def _on_engine(self, engine) -> None:
        event.listen(engine, "connect", _pragmas)

    def _event_rows(self, conn, batch: list[Event]) -> list[dict]:
        rows = super()._event_rows(conn, batch)
        # Advancing the counter takes SQLite's write lock until commit: seq order is commit
        # order, so "seq > the last one read" never misses a row (duplicates leave gaps).
        last = conn.execute(text("UPDATE event_seq SET value = value + :n WHERE id = 1 "
                                 "RETURNING value"), {"n": len(rows)}).scalar_one()
        for i, row in enumerate(rows):
            row["seq"] = last - len(rows) + 1 + i
        return rows

    def _aggregates(self, since: str | None) -> Aggregates:
        """The cursor is the highest seq read (one writer at a time, seq order = commit order)."""
        with self.engine.connect() as conn:
            high = conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()
            where = events.c.seq <= high
            low = _seq(since) if since is not None else None
            if low is not None and low > high:
                low = None  # fewer events than the cursor has seen: not this database's cursor
            if low is not None:
                where = where & (events.c.seq > low)
            return self._aggregate(conn, where, f"seq:{int(high)}", complete=low is None)


def _seq(cursor: str) -> int | None:
    """The seq of a SQLite cursor ('seq:N'); None when `cursor` is not one."""
    kind, _, value = cursor.partition(":")
    return int(value) if kind == "seq" and value.isdigit() else None


def _pragmas(dbapi_connection, _record) -> None:
    # WAL lets the server read while the indexer or an ingest writes; the timeout waits out writers.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
