"""ix_delivery_settled on SQLite with its predicate as equalities joined by OR, not as an IN list:
SQLite builds a temporary table for an IN list of more than two values at every statement it
runs, and a bulk insert runs one per row, so each delivery stored built and dropped one. The
rows in the index are the same. PostgreSQL keeps its index as it is: it tests an IN list in place.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = ["destination", "updated_at", "state", "created_at"]


def upgrade() -> None:
    _settled_index("state = 'delivered' OR state = 'failed' OR state = 'dead'")


def downgrade() -> None:
    _settled_index("state IN ('delivered', 'failed', 'dead')")


def _settled_index(predicate: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_delivery_settled", "delivery")
    op.create_index("ix_delivery_settled", "delivery", COLUMNS, sqlite_where=sa.text(predicate))
