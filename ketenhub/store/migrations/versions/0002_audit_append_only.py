"""audit is append-only: the database refuses UPDATE and DELETE on it

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit
                           BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""")
    else:
        op.execute("""CREATE FUNCTION ketenhub_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$""")
        op.execute("""CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
                      FOR EACH ROW EXECUTE FUNCTION ketenhub_audit_append_only()""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_no_update")
        op.execute("DROP TRIGGER audit_no_delete")
    else:
        op.execute("DROP TRIGGER audit_append_only ON audit")
        op.execute("DROP FUNCTION ketenhub_audit_append_only()")
