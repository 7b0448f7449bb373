"""a small payload's bytes kept in the store with its row (kept_payload), in the same commit,
rather than in a file of its own under payloads/

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_payload",
        sa.Column("payload_id", sa.Integer, sa.ForeignKey("payload.id"), primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False))


def downgrade() -> None:
    op.drop_table("kept_payload")
