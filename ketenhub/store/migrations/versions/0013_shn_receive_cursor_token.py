"""receive_cursor.token: the opaque cursor of a partner whose feed hands out one (SHN's
``volgende``), kept as the partner wrote it

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receive_cursor", sa.Column("token", sa.String(500)))


def downgrade() -> None:
    with op.batch_alter_table("receive_cursor") as batch:
        batch.drop_column("token")
