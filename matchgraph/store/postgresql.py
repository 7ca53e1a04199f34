"""The PostgreSQL backend: several API processes or machines on one database (psycopg 3)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from ..core.events import Event
from .schema import events
from .sql import EVENT_COLUMNS, Aggregates, SQLStore

MIGRATION_LOCK = 7_301_994_001  # pg_advisory_xact_lock key held while migrating


class PostgreSQLStore(SQLStore):
    """Events carry their inserting transaction (`txid`); a cursor is 'pg:<snapshot>', the
    snapshot of the transaction that read."""

    insert = staticmethod(postgresql.insert)
    copy_min_rows = 1000  # batches at least this big go through COPY

    def _lock_migrations(self, conn) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})

    def _write_batch(self, conn, batch: list[Event]) -> set[str]:
        """Large batches: COPY into a temporary table, merged with one INSERT ... SELECT."""
        if len(batch) < self.copy_min_rows:
            return super()._write_batch(conn, batch)
        conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS events_in ON COMMIT DROP AS "
                             f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WITH NO DATA")
        return _copy_events(conn, batch)

    def _aggregates(self, since: str | None) -> Aggregates:
        """The cursor is the reading transaction's snapshot (pg_current_snapshot()); the next read
        takes the rows whose inserting transaction that snapshot did not see (NOT
        pg_visible_in_snapshot(txid, previous)). Sequence values are handed out at insert but
        committed in any order, so "seq > last seen" could skip a slower writer's rows; snapshot
        visibility cannot: a row is either seen by the previous snapshot or read now, never both."""
        with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
                conn.begin():  # one snapshot for the three aggregations and the cursor
            snapshot = conn.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
            previous = _snapshot(since) if since is not None else None
            if previous and int(previous.split(":")[1]) > int(snapshot.split(":")[1]):
                previous = None  # transaction ids went backwards: not this database's cursor
            where = None
            if previous is not None:
                where = (events.c.txid >= int(previous.split(":")[0])) & text(
                    "NOT pg_visible_in_snapshot(events.txid::text::xid8, "
                    f"CAST('{previous}' AS pg_snapshot))")
            return self._aggregate(conn, where, f"pg:{snapshot}", complete=previous is None)


def _snapshot(cursor: str) -> str | None:
    """The pg_snapshot text of a PostgreSQL cursor ('pg:xmin:xmax:xip,...'); None when `cursor`
    is not one (it is spliced into SQL: only digits, colons and commas pass)."""
    kind, _, snapshot = cursor.partition(":")
    parts = snapshot.split(":")
    if kind != "pg" or len(parts) != 3 or not all(p.isdigit() for p in parts[:2]) or \
            not all(x.isdigit() for x in parts[2].split(",") if x):
        return None
    return snapshot


def _copy_events(conn, batch: list[Event]) -> set[str]:
    """COPY a sorted batch into the temporary table events_in, then merge it into events."""
    cursor = conn.connection.driver_connection.cursor()
    columns = ", ".join(EVENT_COLUMNS)
    with cursor.copy(f"COPY events_in ({columns}) FROM STDIN") as copy:
        for e in batch:
            copy.write_row(tuple(getattr(e, name) for name in EVENT_COLUMNS))
    cursor.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM events_in "
                   "ORDER BY event_id ON CONFLICT (event_id) DO NOTHING RETURNING event_id")
    inserted = {row[0] for row in cursor.fetchall()}
    cursor.execute("TRUNCATE events_in")
    cursor.close()
    return inserted
