"""finding one event by its case numbers (search_key, filled from the canonical documents after
they are stored, so ingest does no extra work), the chain's health without scanning big tables
(a partial index on settled deliveries, payloads by time of receipt), and the backlog over
time (health_sample, one row per destination every few minutes)

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SETTLED = sa.text("state IN ('delivered', 'failed', 'dead')")


def upgrade() -> None:
    # Byte order on PostgreSQL too, so a prefix is a range of the index whatever the locale.
    value = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
    op.create_table(
        "search_key",
        sa.Column("event_id", sa.Integer, sa.ForeignKey("event.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", value, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "kind", "value", name="pk_search_key"))
    op.create_index("ix_search_key_value", "search_key", ["value"])
    op.create_table(
        "health_sample",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("retrying", sa.Integer, nullable=False),
        sa.Column("in_trouble", sa.Integer, nullable=False),
        sa.Column("oldest_seconds", sa.Float),
        sa.PrimaryKeyConstraint("at", "destination", name="pk_health_sample"))
    # Pending rows are not in it: a big ingest does not maintain it.
    op.create_index("ix_delivery_settled", "delivery", ["destination", "updated_at", "state", "created_at"],
                    sqlite_where=SETTLED, postgresql_where=SETTLED)
    op.create_index("ix_payload_received", "payload", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_payload_received", "payload")
    op.drop_index("ix_delivery_settled", "delivery")
    op.drop_table("health_sample")
    op.drop_index("ix_search_key_value", "search_key")
    op.drop_table("search_key")
