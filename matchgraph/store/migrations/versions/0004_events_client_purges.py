"""events.client: who recorded an event (a recorded search's client key; NULL for logs and the
command line), so `matchgraph events audit` can list bursts and `events purge --client` remove
them; event_purges: one row per purge, whose count tells a graph refresh that events it had
counted are gone (it then reads everything again instead of adding a delta)

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("client", sa.String(64)))
    op.create_table(
        "event_purges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_purges")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("client")
