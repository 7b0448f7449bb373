"""outbound_batch lease: a batch being sent belongs to one worker until its lease runs out

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
    with op.batch_alter_table("outbound_batch") as batch:
        batch.add_column(sa.Column("worker", sa.String(128)))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("outbound_batch") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("worker")
