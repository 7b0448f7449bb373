"""partial indexes where most rows hold NULL: a delivery by batch (NULL until it is claimed),
an audit row by BerichtId (NULL for deliveries and batches); a big ingest then maintains
neither for the rows it adds

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (("ix_delivery_batch", "delivery", "batch_id"), ("ix_audit_bericht", "audit", "bericht_id"))


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.drop_index(name, table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, [column], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, table, column in INDEXES:
        op.drop_index(name, table)
        op.create_index(name, table, [column])
