"""SQLAlchemy store for SQLite and PostgreSQL: one implementation, dialect-specific upserts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import case, create_engine, delete, event, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..catalog import Artifact
from ..errors import SchemaOutdated
from ..events import Event
from .schema import artifacts, embeddings, events, index_versions

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


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
        with self.engine.begin() as conn:
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
        inserted = 0
        batch: list[dict] = []

        def flush(conn) -> int:
            stmt = self._insert(events).on_conflict_do_nothing(index_elements=["event_id"])
            result = conn.execute(stmt.returning(events.c.event_id), batch)
            return len(result.all())

        with self.engine.begin() as conn:  # one transaction: a batch is stored whole or not at all
            for item in new_events:
                batch.append(item.model_dump())
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
        return count, str(latest)

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
            return [dict(row._mapping) for row in rows]

    def close(self) -> None:
        self.engine.dispose()


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
