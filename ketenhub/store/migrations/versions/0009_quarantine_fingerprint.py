"""quarantine rows keyed by what they hold within their payload: a payload processed again
after a crash finds its quarantined events there and adds no second row for them

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows made before have no fingerprint (NULL), and NULLs never clash in a unique index.
    op.add_column("quarantine", sa.Column("fingerprint", sa.String(64)))
    op.create_index("uq_quarantine_payload_fingerprint", "quarantine", ["payload_id", "fingerprint"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_quarantine_payload_fingerprint", "quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("fingerprint")
