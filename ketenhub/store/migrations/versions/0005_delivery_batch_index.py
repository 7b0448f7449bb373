"""delivery indexes for nightly volumes: by batch (reading and settling a batch's items), and
due deliveries in claim order (destination, state, due time, id)

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_batch", "delivery", ["batch_id"])
    op.drop_index("ix_delivery_destination_state", "delivery")
    op.create_index("ix_delivery_due", "delivery", ["destination", "state", "next_attempt_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_due", "delivery")
    op.create_index("ix_delivery_destination_state", "delivery", ["destination", "state", "next_attempt_at"])
    op.drop_index("ix_delivery_batch", "delivery")
