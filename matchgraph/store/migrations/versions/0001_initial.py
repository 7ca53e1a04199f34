"""initial schema: artifacts, events, embeddings, index_versions

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("pricing", sa.String(20), nullable=False),
        sa.Column("task", sa.String(200)),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("query_norm", sa.Text, nullable=False),
        sa.Column("artifact_id", sa.String(300), nullable=False),
        sa.Column("capability_id", sa.String(300)),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("rank", sa.Integer),
    )
    op.create_index("ix_events_artifact", "events", ["artifact_id"])
    op.create_index("ix_events_query_norm_artifact", "events", ["query_norm", "artifact_id"])
    op.create_table(
        "embeddings",
        sa.Column("model", sa.String(300), primary_key=True),
        sa.Column("text_hash", sa.String(64), primary_key=True),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "index_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("catalog", sa.JSON, nullable=False),
        sa.Column("artifacts", sa.Integer, nullable=False),
        sa.Column("capabilities", sa.Integer, nullable=False),
        sa.Column("embedded", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("index_versions", "embeddings", "events", "artifacts"):
        op.drop_table(table)
