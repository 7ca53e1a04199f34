"""Tables of the store (SQLAlchemy Core). Alembic revisions in matchgraph/store/migrations create them."""

from sqlalchemy import (
                        JSON,
                        BigInteger,
                        Column,
                        DateTime,
                        Float,
                        Index,
                        Integer,
                        LargeBinary,
                        MetaData,
                        String,
                        Table,
                        Text,
)

metadata = MetaData()

artifacts = Table(
    "artifacts", metadata,
    Column("id", String(300), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("pricing", String(20), nullable=False),
    Column("task", String(200)),
    Column("record", JSON, nullable=False),  # the whole validated catalog record
    Column("content_hash", String(64), nullable=False),
)

events = Table(
    "events", metadata,
    Column("event_id", String(200), primary_key=True),  # idempotency is the database's job
    Column("query", Text, nullable=False),
    Column("query_norm", Text, nullable=False),
    Column("artifact_id", String(300), nullable=False),
    Column("capability_id", String(300)),
    Column("kind", String(10), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("score", Float),
    Column("rank", Integer),
    # revision 0003: assigned by the database (SQLite: counter table event_seq; PostgreSQL: identity)
    Column("seq", BigInteger),
    # revision 0003, PostgreSQL: the inserting transaction (pg_current_xact_id()); 0 on SQLite
    Column("txid", BigInteger, nullable=False, server_default="0"),
    Column("client", String(64)),  # revision 0004: a recorded search's client key; NULL for logs
    Index("ix_events_artifact", "artifact_id"),
    Index("ix_events_query_norm_artifact", "query_norm", "artifact_id"),
    Index("ix_events_ts", "ts"),  # revision 0002: latest-event check, time ranges, monthly partitions
    Index("ix_events_seq", "seq"),  # revision 0003: events stored since the previous graph build
)

# revision 0004: one row per `matchgraph events purge`; their number marks graph cursors stale
event_purges = Table(
    "event_purges", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purged_at", DateTime(timezone=True), nullable=False),
    Column("criteria", JSON, nullable=False),  # what was purged: query, artifact, client, before
    Column("events", Integer, nullable=False),  # how many events it removed
)

embeddings = Table(
    "embeddings", metadata,
    Column("model", String(300), primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian
)

index_versions = Table(
    "index_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("model", String(300), nullable=False),
    Column("catalog", JSON, nullable=False),  # catalog paths
    Column("artifacts", Integer, nullable=False),
    Column("capabilities", Integer, nullable=False),
    Column("embedded", Integer, nullable=False),  # texts embedded by this build (not cached)
)
