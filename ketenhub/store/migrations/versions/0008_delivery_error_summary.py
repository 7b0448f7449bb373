"""delivery.error_summary: the hub's own words about a delivery's last error (state, code, HTTP
status), apart from last_error, which may quote what the destination wrote back (personal data)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on the rows before it: their whole last_error is hidden from who may not see personal data.
    op.add_column("delivery", sa.Column("error_summary", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("error_summary")
