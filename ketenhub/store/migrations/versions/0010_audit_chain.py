"""audit rows form a hash chain: each carries the hash of the row before and its own, and
audit_head holds the last row's id and hash; rows written before this are chained here, in
the order of their ids

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ROWS = sa.table("audit", *(sa.column(name) for name in (
    "id", "actor", "subject", "subject_id", "bericht_id", "action", "detail")),
    sa.column("at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    from ketenhub.store.audit_chain import GENESIS, row_hash

    op.add_column("audit", sa.Column("prev_hash", sa.LargeBinary()))
    op.add_column("audit", sa.Column("hash", sa.LargeBinary()))
    op.create_table("audit_head", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("last_id", sa.Integer(), nullable=False),
                    sa.Column("hash", sa.LargeBinary(), nullable=False))
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    # The rows already there are rewritten once, past the append-only trigger of 0002.
    if sqlite:
        op.execute("DROP TRIGGER audit_no_update")
    else:
        op.execute("ALTER TABLE audit DISABLE TRIGGER audit_append_only")
    last_id, prev = 0, GENESIS
    while True:
        rows = conn.execute(sa.select(ROWS.c.id, ROWS.c.at, ROWS.c.actor, ROWS.c.subject, ROWS.c.subject_id,
                                      ROWS.c.bericht_id, ROWS.c.action, ROWS.c.detail)
                            .where(ROWS.c.id > last_id).order_by(ROWS.c.id).limit(10_000)).all()
        if not rows:
            break
        chained = []
        for r in rows:
            h = row_hash(prev, *r, digests=False)  # the encoding before 0011
            chained.append((prev, h, r.id))
            prev = h
        last_id = rows[-1].id
        cursor = conn.connection.dbapi_connection.cursor()
        if sqlite:
            cursor.executemany("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", chained)
        else:
            from psycopg2.extras import execute_values
            execute_values(cursor, "UPDATE audit SET prev_hash = v.p, hash = v.h FROM (VALUES %s) AS v(p, h, id) "
                                   "WHERE audit.id = v.id", chained, page_size=1000)
        cursor.close()
    if sqlite:
        op.execute("""CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                      BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""")
    else:
        op.execute("ALTER TABLE audit ENABLE TRIGGER audit_append_only")
    op.get_bind().execute(sa.text("INSERT INTO audit_head (id, last_id, hash) VALUES (1, :last_id, :hash)"),
                          {"last_id": last_id, "hash": prev})


def downgrade() -> None:
    op.drop_table("audit_head")
    op.execute("ALTER TABLE audit DROP COLUMN hash")
    op.execute("ALTER TABLE audit DROP COLUMN prev_hash")
