"""SQLAlchemy store for SQLite and PostgreSQL: one implementation, dialect-specific upserts."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import case, create_engine, delete, event, func, inspect, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..catalog import Artifact
from ..errors import SchemaOutdated
from ..events import Event
from .schema import artifacts, embeddings, events, index_versions

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK = 7_301_994_001  # pg_advisory_xact_lock key held while migrating
COPY_MIN_ROWS = 1000  # PostgreSQL batches at least this big go through COPY
EVENT_COLUMNS = [c.name for c in events.columns]


def _alembic_config(connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def normalize_url(url: str) -> str:
    """postgresql:// and postgres:// mean psycopg 3 through SQLAlchemy."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class SQLStore:
    """Store on any SQLAlchemy URL; SQLite and PostgreSQL are the two supported backends."""

    def __init__(self, url: str, create: bool = True, check: bool = True):
        self.url = normalize_url(url)
        self.engine: Engine = create_engine(self.url, future=True, pool_pre_ping=True)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if check:
            self._check_schema(create)

    # -- schema -----------------------------------------------------------------------------
    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def _check_schema(self, create: bool) -> None:
        revision = self.current_revision()
        if revision is None:
            with self.engine.connect() as conn:
                has_tables = bool(inspect(conn).get_table_names())
            if has_tables:
                raise SchemaOutdated(f"store {self.safe_url} has tables but no schema revision; "
                                     "run `matchgraph db upgrade`")
            if create:
                self.upgrade()
            return
        head = head_revision()
        if revision != head:
            raise SchemaOutdated(f"store {self.safe_url} is at schema {revision}, this version needs "
                                 f"{head}; run `matchgraph db upgrade`")

    def upgrade(self) -> str:
        """Migrate to head in one transaction. On PostgreSQL an advisory lock serializes processes
        that start together on an empty database (4 API processes, the indexer): the first
        creates the schema, the others then find it at head and do nothing."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            command.upgrade(_alembic_config(conn), "head")
        return head_revision()

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # -- events -----------------------------------------------------------------------------
    def _insert(self, table):
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    def add_events(self, new_events: Iterable[Event], batch_size: int = 5000) -> int:
        """Store events in one transaction (all or nothing); event_ids already stored are skipped.

        Idempotency is the database's: INSERT ... ON CONFLICT (event_id) DO NOTHING, so any number
        of processes may send the same events at once. Rows go in sorted by event_id, so two
        concurrent batches lock the same keys in the same order (no deadlock). On PostgreSQL, large
        batches are streamed with COPY into a temporary table and merged with one INSERT ... SELECT.
        A list (not a one-shot iterator) is retried when PostgreSQL still reports a deadlock.
        """
        if isinstance(new_events, (list, tuple)):
            for attempt in range(5):
                try:
                    return self._add_events(new_events, batch_size)
                except OperationalError as exc:
                    if attempt == 4 or not _retryable(exc):
                        raise
                    time.sleep(0.05 * (attempt + 1))
        return self._add_events(new_events, batch_size)

    def _add_events(self, new_events: Iterable[Event], batch_size: int) -> int:
        inserted = 0
        batch: list[Event] = []
        copy_ready = False

        def flush(conn) -> int:
            nonlocal copy_ready
            batch.sort(key=lambda e: e.event_id)
            if self.dialect == "postgresql" and len(batch) >= COPY_MIN_ROWS:
                if not copy_ready:
                    conn.exec_driver_sql(
                        "CREATE TEMPORARY TABLE IF NOT EXISTS events_in "
                        "(LIKE events INCLUDING DEFAULTS) ON COMMIT DROP")
                    copy_ready = True
                return _copy_events(conn, batch)
            stmt = self._insert(events).on_conflict_do_nothing(index_elements=["event_id"])
            rows = [e.model_dump() for e in batch]
            for row in rows:  # SQLite keeps wall time and drops the offset: store UTC everywhere
                row["ts"] = _utc(row["ts"])
            result = conn.execute(stmt.returning(events.c.event_id), rows)
            return len(result.all())

        with self.engine.begin() as conn:  # one transaction: a batch is stored whole or not at all
            for item in new_events:
                batch.append(item)
                if len(batch) >= batch_size:
                    inserted += flush(conn)
                    batch = []
            if batch:
                inserted += flush(conn)
        return inserted

    def event_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()

    def events_signature(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            count, latest = conn.execute(select(func.count(), func.max(events.c.ts))).one()
        return count, str(_utc(latest))

    def times_matched(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events.c.artifact_id, func.count()).group_by(events.c.artifact_id))
            return {artifact_id: count for artifact_id, count in rows}

    def edge_counts(self) -> Iterator[tuple[str, str, int, int]]:
        selects = func.sum(case((events.c.kind == "select", 1), else_=0))
        stmt = (select(events.c.query_norm, events.c.artifact_id, func.count(), selects)
                .group_by(events.c.query_norm, events.c.artifact_id))
        with self.engine.connect() as conn:
            for query_norm, artifact_id, total, n_select in conn.execution_options(
                    stream_results=True, yield_per=10_000).execute(stmt):
                yield query_norm, artifact_id, int(total), int(n_select or 0)

    def capability_counts(self) -> Iterator[tuple[str, str, str, int]]:
        stmt = (select(events.c.query_norm, events.c.artifact_id, events.c.capability_id, func.count())
                .where(events.c.capability_id.is_not(None))
                .group_by(events.c.query_norm, events.c.artifact_id, events.c.capability_id))
        with self.engine.connect() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt):
                yield row[0], row[1], row[2], int(row[3])

    def query_texts(self) -> dict[str, str]:
        stmt = select(events.c.query_norm, func.max(events.c.query)).group_by(events.c.query_norm)
        with self.engine.connect() as conn:
            return {norm: text for norm, text in conn.execute(stmt)}

    # -- embedding cache --------------------------------------------------------------------
    def get_vectors(self, model: str, text_hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(text_hashes), 500):
                chunk = text_hashes[start:start + 500]
                rows = conn.execute(select(embeddings.c.text_hash, embeddings.c.vector)
                                    .where(embeddings.c.model == model, embeddings.c.text_hash.in_(chunk)))
                for text_hash, blob in rows:
                    found[text_hash] = np.frombuffer(blob, dtype="<f4")
        return found

    def put_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        rows = [{"model": model, "text_hash": h, "dim": int(v.shape[0]),
                 "vector": np.asarray(v, dtype="<f4").tobytes()} for h, v in vectors.items()]
        stmt = self._insert(embeddings).on_conflict_do_nothing(index_elements=["model", "text_hash"])
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    # -- catalog and versions ---------------------------------------------------------------
    def replace_artifacts(self, catalog: list[Artifact]) -> None:
        rows = [{"id": a.id, "name": a.name, "kind": a.kind, "pricing": a.pricing, "task": a.task,
                 "record": a.model_dump(mode="json"), "content_hash": a.content_hash()} for a in catalog]
        with self.engine.begin() as conn:
            conn.execute(delete(artifacts))
            if rows:
                conn.execute(artifacts.insert(), rows)

    def record_version(self, version: int, model: str, catalog: list[str], artifacts: int,
                       capabilities: int, embedded: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(index_versions.insert().values(
                version=version, created_at=datetime.now(timezone.utc), model=model, catalog=catalog,
                artifacts=artifacts, capabilities=capabilities, embedded=embedded))

    def versions(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(index_versions).order_by(index_versions.c.version.desc()))
            return [{**row._mapping, "created_at": _utc(row.created_at)} for row in rows]

    def close(self) -> None:
        self.engine.dispose()


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive (they were stored as UTC): make both backends agree."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc) if value is not None else None


def _copy_events(conn, batch: list[Event]) -> int:
    """COPY a sorted batch into the temporary table events_in, then merge it into events."""
    cursor = conn.connection.driver_connection.cursor()
    columns = ", ".join(EVENT_COLUMNS)
    with cursor.copy(f"COPY events_in ({columns}) FROM STDIN") as copy:
        for e in batch:
            copy.write_row(tuple(getattr(e, name) for name in EVENT_COLUMNS))
    cursor.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM events_in "
                   "ORDER BY event_id ON CONFLICT (event_id) DO NOTHING")
    inserted = cursor.rowcount
    cursor.execute("TRUNCATE events_in")
    cursor.close()
    return inserted


def _retryable(exc: OperationalError) -> bool:
    """Deadlock or serialization failure reported by PostgreSQL: safe to run the batch again."""
    return getattr(exc.orig, "sqlstate", None) in {"40P01", "40001"}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the server read while the indexer or an ingest writes; the timeout waits out writers.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_store(url: str, create: bool = True, check: bool = True) -> SQLStore:
    """Open the store at a SQLAlchemy URL, creating the schema in a new, empty database.

    An existing store at an older schema raises SchemaOutdated unless `check` is False
    (what `matchgraph db upgrade` does before migrating it).
    """
    return SQLStore(url, create=create, check=check)
