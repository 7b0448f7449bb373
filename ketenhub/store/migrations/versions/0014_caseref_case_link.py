"""the register of case identifiers seen together (case_link): a police registratienummer and
the parketnummer an event named beside it, so that a victim keeps one Ketenreferentie in one
case whichever identifier a partner uses

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_link",
        sa.Column("registratienummer", sa.String(255), primary_key=True),
        sa.Column("parketnummer", sa.String(255), nullable=False),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("event.id"), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("case_link")
