"""outbound batches by destination and creation time: the next batch's number counts that
day's batches through this index, not every batch the destination ever had

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_batch_created", "outbound_batch", ["destination", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_batch_created", "outbound_batch")
