"""The SQLAlchemy store: every dialect-neutral query, with hooks where SQLite and PostgreSQL differ.

`SQLStore` holds the SQL both backends share; `sqlite.SQLiteStore` and
`postgresql.PostgreSQLStore` fill in the hooks (connection set-up, the migration lock, how a
batch of events is written and numbered, how a delta of events is read). `create_store(url)`
picks the backend from the URL.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import case, create_engine, delete, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from ..core.catalog import Artifact
from ..core.errors import SchemaOutdated, ValidationFailed
from ..core.events import DERIVED_ID_PREFIXES, IDENTITY_FIELDS, Event, EventConflict
from ..core.outputs import store_files
from .schema import artifacts, embeddings, event_purges, events, index_versions

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
EVENT_COLUMNS = [c.name for c in events.columns if c.name not in ("seq", "txid")]  # the database fills those


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


@dataclass
class Aggregates:
    """Counts of the events a build reads, all from one consistent view of the event table.

    `cursor` marks that view: `aggregates(since=cursor)` later returns exactly the events stored
    after it (committed later), whatever order concurrent writers committed in.
    """

    cursor: str
    complete: bool = True  # all events (no cursor, or one this store cannot continue from)
    edges: list[tuple[str, str, int, int]] = field(default_factory=list)  # query_norm, artifact, matches, selects
    capabilities: list[tuple[str, str, str, int, int]] = field(default_factory=list)  # query_norm, artifact, cap, n, selects
    texts: dict[str, str] = field(default_factory=dict)  # query_norm -> max(query)


class SQLStore:
    """The store on a SQLAlchemy URL. A backend subclass sets `insert` (its dialect's INSERT,
    for ON CONFLICT) and fills in the hooks below ("Hook:"); `aggregates` it must implement."""

    insert = None  # sqlalchemy.dialects.<backend>.insert

    def __init__(self, url: str, create: bool = True, check: bool = True):
        self.url = normalize_url(url)
        self.engine: Engine = create_engine(self.url, future=True, pool_pre_ping=True,
                                            json_serializer=_json_serializer)
        self.dialect = self.engine.dialect.name
        self._on_engine(self.engine)
        if check:
            self._check_schema(create)

    # -- hooks ------------------------------------------------------------------------------
    def _on_engine(self, engine: Engine) -> None:
        """Hook: set up the new SQLAlchemy engine (e.g. per-connection settings)."""

    def _lock_migrations(self, conn) -> None:
        """Hook: serialize processes migrating the same database at once (inside `conn`'s transaction)."""

    def _write_batch(self, conn, batch: list[Event]) -> set[str]:
        """Hook: insert a batch sorted by event_id, skipping stored event_ids; return the
        event_ids that were new. Default: one INSERT ... ON CONFLICT DO NOTHING of `_event_rows`."""
        stmt = self.insert(events).on_conflict_do_nothing(index_elements=["event_id"])
        rows = self._event_rows(conn, batch)
        return {row[0] for row in conn.execute(stmt.returning(events.c.event_id), rows)}

    def _event_rows(self, conn, batch: list[Event]) -> list[dict]:
        """The rows of a batch (timestamps in UTC); a backend may number them here."""
        rows = [e.model_dump() for e in batch]
        for row in rows:  # SQLite keeps wall time and drops the offset: store UTC everywhere
            row["ts"] = _utc(row["ts"])
        return rows

    def aggregates(self, since: str | None = None) -> Aggregates:
        """Edge counts, capability counts and query texts of the events stored after `since` (a
        cursor from an earlier call; None: all events), read from one view of the table, with the
        cursor of that view. A cursor this store cannot continue from (another backend's, one from
        the future: the database was replaced, or one read before a purge: counts cannot be
        subtracted) gives a complete read, marked `complete`, instead of a wrong delta."""
        generation = self.purge_generation()
        if since is not None:
            since, _, seen = since.partition("|p")
            if int(seen or 0) != generation:
                since = None
        out = self._aggregates(since)
        if generation:
            out.cursor = f"{out.cursor}|p{generation}"
        return out

    def _aggregates(self, since: str | None) -> Aggregates:
        """Hook: `aggregates` for this backend's cursor (purges already accounted for)."""
        raise NotImplementedError

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
        """Migrate to head in one transaction, under the backend's migration lock: of processes
        that start together on an empty database (4 API processes, the indexer), the first creates
        the schema, the others then find it at head and do nothing."""
        with self.engine.begin() as conn:
            self._lock_migrations(conn)
            command.upgrade(_alembic_config(conn), "head")
        return head_revision()

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def files(self) -> list[Path]:
        """The files the store keeps on this machine (resolved), which a command must never
        write over: a SQLite database and its side files; none for a database server."""
        return store_files(self.url)

    # -- events -----------------------------------------------------------------------------
    def add_events(self, new_events: Iterable[Event], batch_size: int = 5000) -> int:
        """Store events in one transaction (all or nothing); event_ids already stored are skipped.

        Idempotency is the database's: INSERT ... ON CONFLICT (event_id) DO NOTHING, so any number
        of processes may send the same events at once. Rows go in sorted by event_id, so two
        concurrent batches lock the same keys in the same order (no deadlock); how a batch is
        written is the backend's (`_write_batch`: PostgreSQL streams large ones with COPY). A list
        (not a one-shot iterator) is retried when PostgreSQL still reports a deadlock.
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
        with self.engine.begin() as conn:  # one transaction: a batch is stored whole or not at all
            for item in new_events:
                batch.append(item)
                if len(batch) >= batch_size:
                    inserted += self._write_checked(conn, batch)
                    batch = []
            if batch:
                inserted += self._write_checked(conn, batch)
        return inserted

    def _write_checked(self, conn, batch: list[Event]) -> int:
        """Write a batch; an event_id already held by different content is an EventConflict."""
        batch = sorted(batch, key=lambda e: e.event_id)
        stored = self._write_batch(conn, batch)
        _check_conflicts(conn, batch, stored)
        return len(stored)

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
        with self.engine.connect() as conn:
            for query_norm, artifact_id, total, n_select in conn.execution_options(
                    stream_results=True, yield_per=10_000).execute(_edge_counts()):
                yield query_norm, artifact_id, int(total), int(n_select or 0)

    def capability_counts(self) -> Iterator[tuple[str, str, str, int, int]]:
        with self.engine.connect() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=10_000).execute(
                    _capability_counts()):
                yield row[0], row[1], row[2], int(row[3]), int(row[4] or 0)

    def query_texts(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {norm: text for norm, text in conn.execute(_query_texts())}

    def _aggregate(self, conn, where, cursor: str, complete: bool) -> Aggregates:
        """The three aggregations under `where`. Only a full read streams: on PostgreSQL a
        server-side cursor makes the planner prefer a fast-start plan (the (query_norm,
        artifact_id) index in order, every row filtered), seconds for a delta of a few rows."""
        options = {"yield_per": 10_000} if complete else {}

        def restrict(stmt):
            return stmt if where is None else stmt.where(where)

        out = Aggregates(cursor=cursor, complete=complete)
        out.edges = [(q, a, int(n), int(s or 0)) for q, a, n, s in
                     conn.execution_options(**options).execute(restrict(_edge_counts()))]
        out.capabilities = [(q, a, c, int(n), int(s or 0)) for q, a, c, n, s in
                            conn.execution_options(**options).execute(restrict(_capability_counts()))]
        out.texts = {norm: query for norm, query in conn.execute(restrict(_query_texts()))}
        return out

    def max_seq(self) -> int:
        """The highest seq stored (0 when there are no events)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())

    # -- embedding cache --------------------------------------------------------------------
    def get_vectors(self, model: str, text_hashes: list[str]) -> dict[str, np.ndarray]:
        """The cached vectors of these text hashes (missing ones left out). Read VECTOR_CHUNK
        hashes a query with the rows fetched whole: at 300,000 vectors, chunks of 500 read one
        row at a time took a third of an index build from a full cache."""
        found: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(text_hashes), VECTOR_CHUNK):
                chunk = text_hashes[start:start + VECTOR_CHUNK]
                rows = conn.execute(select(embeddings.c.text_hash, embeddings.c.vector)
                                    .where(embeddings.c.model == model, embeddings.c.text_hash.in_(chunk)))
                found.update((h, np.frombuffer(blob, dtype="<f4")) for h, blob in rows.fetchall())
        return found

    def put_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        rows = [{"model": model, "text_hash": h, "dim": int(v.shape[0]),
                 "vector": np.asarray(v, dtype="<f4").tobytes()} for h, v in vectors.items()]
        stmt = self.insert(embeddings).on_conflict_do_nothing(index_elements=["model", "text_hash"])
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    # -- catalog and versions ---------------------------------------------------------------
    def replace_artifacts(self, catalog: list[Artifact], records: list[str] | None = None) -> None:
        """Store the catalog; `records`: each artifact's model_dump_json() when the caller made
        them already, stored as they are and hashed for content_hash."""
        records = records if records is not None else [a.model_dump_json() for a in catalog]
        self.replace_artifact_rows((a.id, a.name, a.kind, a.pricing, a.task, r) for a, r in zip(catalog, records))

    def replace_artifact_rows(self, rows: Iterable[tuple[str, str, str, str, str | None, str]]) -> None:
        """Store the catalog from (id, name, kind, pricing, task, record JSON) rows in catalog order
        (index_build.index_rows streams them from the version folder: a million records are never
        held at once)."""
        with self.engine.begin() as conn:
            self._replace_artifact_rows(conn, rows)

    @staticmethod
    def _replace_artifact_rows(conn, rows: Iterable[tuple[str, str, str, str, str | None, str]],
                               batch_size: int = 5000) -> None:
        conn.execute(delete(artifacts))
        batch: list[dict] = []
        for aid, name, kind, pricing, task, record in rows:
            batch.append({"id": aid, "name": name, "kind": kind, "pricing": pricing, "task": task,
                          "record": JsonText(record),
                          "content_hash": hashlib.sha256(record.encode()).hexdigest()})
            if len(batch) >= batch_size:
                conn.execute(artifacts.insert(), batch)
                batch = []
        if batch:
            conn.execute(artifacts.insert(), batch)

    def record_version(self, version: int, model: str, catalog: list[str], artifacts: int,
                       capabilities: int, embedded: int) -> None:
        with self.engine.begin() as conn:
            self._record_version(conn, version, model, catalog, artifacts, capabilities, embedded)

    @staticmethod
    def _record_version(conn, version: int, model: str, catalog: list[str], artifacts: int,
                        capabilities: int, embedded: int) -> None:
        conn.execute(index_versions.insert().values(
            version=version, created_at=datetime.now(timezone.utc), model=model, catalog=catalog,
            artifacts=artifacts, capabilities=capabilities, embedded=embedded))

    def publish_version(self, version: int, model: str, paths: list[str],
                        rows: Iterable[tuple[str, str, str, str, str | None, str]], artifacts: int,
                        capabilities: int, embedded: int) -> None:
        """What `index` publishes, in one transaction: the catalog's (id, name, kind, pricing,
        task, record JSON) rows replace the stored artifacts and the version is recorded; both or
        neither (store/versions.py: before CURRENT names it)."""
        with self.engine.begin() as conn:
            self._replace_artifact_rows(conn, rows)
            self._record_version(conn, version, model, paths, artifacts, capabilities, embedded)

    def latest_version(self) -> int | None:
        """The newest recorded index version (None before the first publish)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(index_versions.c.version))).scalar_one()

    def versions(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(index_versions).order_by(index_versions.c.version.desc()))
            return [{**row._mapping, "created_at": _utc(row.created_at)} for row in rows]

    # -- audit and purge (matchgraph events audit / purge) -----------------------------------
    def event_bursts(self, since: datetime, min_events: int = 2, limit: int = 50) -> list[dict]:
        """Groups of events stored at or after `since` sharing a client and a normalized query,
        with at least `min_events` events, most events first: [{"client", "query", "events",
        "artifacts", "first", "last"}]. Events without a client (logs, CLI) group under None."""
        count = func.count().label("events")
        stmt = (select(events.c.client, events.c.query_norm, count,
                       func.count(func.distinct(events.c.artifact_id)), func.min(events.c.ts),
                       func.max(events.c.ts))
                .where(events.c.ts >= since)
                .group_by(events.c.client, events.c.query_norm)
                .having(func.count() >= min_events)
                .order_by(count.desc(), events.c.query_norm).limit(limit))
        with self.engine.connect() as conn:
            return [{"client": client, "query": query, "events": int(n), "artifacts": int(n_art),
                     "first": _utc(first), "last": _utc(last)}
                    for client, query, n, n_art, first, last in conn.execute(stmt)]

    def client_bursts(self, since: datetime, min_queries: int = 10, limit: int = 50) -> list[dict]:
        """Clients that recorded at least `min_queries` distinct normalized queries at or after
        `since`, most first: [{"client", "queries", "events", "artifacts", "first", "last"}] (a
        burst of distinct queries, which the one-query grouping of event_bursts misses)."""
        queries = func.count(func.distinct(events.c.query_norm)).label("queries")
        stmt = (select(events.c.client, queries, func.count(), func.count(func.distinct(events.c.artifact_id)),
                       func.min(events.c.ts), func.max(events.c.ts))
                .where(events.c.ts >= since, events.c.client.is_not(None))
                .group_by(events.c.client)
                .having(queries >= min_queries)
                .order_by(queries.desc(), events.c.client).limit(limit))
        with self.engine.connect() as conn:
            return [{"client": client, "queries": int(q), "events": int(n), "artifacts": int(n_art),
                     "first": _utc(first), "last": _utc(last)}
                    for client, q, n, n_art, first, last in conn.execute(stmt)]

    def recorded_searches(self, client: str, since: datetime) -> int:
        """How many distinct queries `client` recorded at or after `since` (api/guard.py's budget
        shared by every process on this store; a repeat within the window is stored once anyway)."""
        stmt = (select(func.count(func.distinct(events.c.query_norm)))
                .where(events.c.client == client, events.c.ts >= since))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def purge_events(self, query_norm: str | None = None, artifact_id: str | None = None,
                     client: str | None = None, before: datetime | None = None,
                     dry_run: bool = False) -> int:
        """Delete the events matching every given criterion (at least one is required) and log
        the purge in event_purges, in one transaction; returns how many events matched. The next
        graph build of any process reads all events again (aggregates: the purge count changed)."""
        where = []
        if query_norm is not None:
            where.append(events.c.query_norm == query_norm)
        if artifact_id is not None:
            where.append(events.c.artifact_id == artifact_id)
        if client is not None:
            where.append(events.c.client == client)
        if before is not None:
            where.append(events.c.ts < _utc(before))
        if not where:
            raise ValidationFailed("events purge", ["needs at least one criterion: a query, an artifact, "
                                                    "a client or a time"])
        with self.engine.begin() as conn:
            if dry_run:
                return int(conn.execute(select(func.count()).select_from(events).where(*where)).scalar_one())
            removed = conn.execute(delete(events).where(*where)).rowcount
            if removed:
                criteria = {"query": query_norm, "artifact": artifact_id, "client": client,
                            "before": _utc(before).isoformat() if before else None}
                conn.execute(event_purges.insert().values(
                    purged_at=datetime.now(timezone.utc), criteria=criteria, events=removed))
        return int(removed)

    def ping(self) -> None:
        """Raise when the database does not answer (readiness)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def purge_generation(self) -> int:
        """How many purges removed events so far (0: none); part of every aggregates cursor."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(event_purges)).scalar_one())

    def purges(self) -> list[dict]:
        """The purge log, newest first: [{"id", "purged_at", "criteria", "events"}]."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(event_purges).order_by(event_purges.c.id.desc()))
            return [{**row._mapping, "purged_at": _utc(row.purged_at)} for row in rows]

    def close(self) -> None:
        self.engine.dispose()


VECTOR_CHUNK = 10_000  # hashes per query: under SQLite's 32,766 and PostgreSQL's 65,535 parameters


class JsonText(str):
    """A value for a JSON column that is already JSON text (stored as it is, not dumped again)."""


def _json_serializer(value) -> str:
    return value if isinstance(value, JsonText) else json.dumps(value)


def _check_conflicts(conn, batch: list[Event], stored: set[str]) -> None:
    """Raise EventConflict when an event of `batch` that was not stored (its event_id was taken,
    by an earlier transaction or earlier in this one) differs from the stored event in an
    IDENTITY_FIELDS field. Ids matchgraph derives itself are duplicates by construction."""
    by_id: dict[str, list[Event]] = {}
    for e in batch:
        if not e.event_id.startswith(DERIVED_ID_PREFIXES):
            by_id.setdefault(e.event_id, []).append(e)
    ids = sorted(i for i, group in by_id.items() if i not in stored or len(group) > 1)
    columns = [events.c.event_id, events.c.query, *(events.c[name] for name in IDENTITY_FIELDS)]
    for start in range(0, len(ids), 500):
        for row in conn.execute(select(*columns).where(events.c.event_id.in_(ids[start:start + 500]))):
            held = dict(row._mapping)
            held["ts"] = _utc(held["ts"])
            for given in by_id[held["event_id"]]:
                differs = [name for name in IDENTITY_FIELDS if (name != "ts" or given.ts_given) and
                           (_utc(given.ts) if name == "ts" else getattr(given, name)) != held[name]]
                if differs:
                    raise EventConflict(given, held, differs)


def _edge_counts():
    """(query_norm, artifact_id, events, selects) per pair: a select is also a match."""
    selects = func.sum(case((events.c.kind == "select", 1), else_=0))
    return (select(events.c.query_norm, events.c.artifact_id, func.count(), selects)
            .group_by(events.c.query_norm, events.c.artifact_id))


def _capability_counts():
    """(query_norm, artifact_id, capability_id, events, selects) for events that name a capability
    (tool-level search learns from the selects: matches are only what was shown)."""
    selects = func.sum(case((events.c.kind == "select", 1), else_=0))
    return (select(events.c.query_norm, events.c.artifact_id, events.c.capability_id, func.count(), selects)
            .where(events.c.capability_id.is_not(None))
            .group_by(events.c.query_norm, events.c.artifact_id, events.c.capability_id))


def _query_texts():
    """(query_norm, one original text of it: the greatest)."""
    return select(events.c.query_norm, func.max(events.c.query)).group_by(events.c.query_norm)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive (they were stored as UTC): make both backends agree."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc) if value is not None else None


def _retryable(exc: OperationalError) -> bool:
    """Deadlock or serialization failure reported by PostgreSQL: safe to run the batch again."""
    return getattr(exc.orig, "sqlstate", None) in {"40P01", "40001"}
