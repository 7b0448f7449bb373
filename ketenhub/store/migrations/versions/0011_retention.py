"""audit rows from here on chain a digest of their personal fields (bericht_id, detail), so that
retention can pseudonymise those fields and keep the digest (bericht_digest, detail_digest)
without breaking the chain; rows written before keep their encoding (audit_head.digests_from)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding nullable columns rewrites no row, so the append-only trigger is not in the way.
    op.add_column("audit", sa.Column("bericht_digest", sa.LargeBinary()))
    op.add_column("audit", sa.Column("detail_digest", sa.LargeBinary()))
    op.add_column("audit_head", sa.Column("digests_from", sa.Integer()))
    # The rows already chained keep their hashes (and so every head logged outside the database).
    op.execute("UPDATE audit_head SET digests_from = last_id + 1")


def downgrade() -> None:
    op.execute("ALTER TABLE audit_head DROP COLUMN digests_from")
    op.execute("ALTER TABLE audit DROP COLUMN detail_digest")
    op.execute("ALTER TABLE audit DROP COLUMN bericht_digest")
