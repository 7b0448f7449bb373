"""The audit trail's hash chain: every way of changing the trail behind the hub's back is
reported by `ketenhub audit verify`, at the right row, on SQLite and on PostgreSQL."""
import os
import subprocess
import sys
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from ketenhub import cli
from ketenhub.store.audit_chain import GENESIS, row_hash, verify
from ketenhub.store.audit import Entry, record
from ketenhub.store import db
from ketenhub.store.tables import audit, audit_head
from tests.conftest import ingest

SQLITE_TRIGGERS = {verb: f"""CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit
                             BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"""
                   for verb in ("UPDATE", "DELETE")}


@pytest.fixture
def trail(hub, sample):
    """A hub with a trail of 18 rows: a payload received, its 5 events, the payload accepted,
    and 11 rows about deliveries."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.begin() as conn:
        record(conn, [Entry("delivery", i, "replayed", detail=f"operator's reason {i}") for i in range(1, 12)])
    assert last_id(hub) == 18
    return hub


def last_id(hub) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.max(audit.c.id)))


def tamper(hub, *statements: str) -> None:
    """What someone with the database's owner rights can do: on SQLite drop the append-only
    triggers and create them again afterwards, on PostgreSQL disable and enable the trigger."""
    with hub.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for verb in SQLITE_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER audit_no_{verb.lower()}"))
        else:
            conn.execute(text("ALTER TABLE audit DISABLE TRIGGER audit_append_only"))
        for s in statements:
            conn.execute(text(s))
        if conn.dialect.name == "sqlite":
            for sql in SQLITE_TRIGGERS.values():
                conn.execute(text(sql))
        else:
            conn.execute(text("ALTER TABLE audit ENABLE TRIGGER audit_append_only"))


def audit_verify(capsys, *args) -> tuple[int, str]:
    code = cli.main(["audit", "verify", *args])
    return code, capsys.readouterr().out.strip()


def rehash(hub, first: int) -> None:
    """A careful attacker: the chain recomputed from row ``first`` on, and the head set to match."""
    with hub.engine.connect() as conn:
        rows = conn.execute(select(audit).where(audit.c.id >= first).order_by(audit.c.id)).mappings().all()
        prev = conn.scalar(select(audit.c.hash).where(audit.c.id < first).order_by(audit.c.id.desc()).limit(1))
    prev = bytes(prev) if prev is not None else GENESIS
    updates = []
    for r in rows:
        h = row_hash(prev, r["id"], r["at"], r["actor"], r["subject"], r["subject_id"], r["bericht_id"],
                     r["action"], r["detail"])
        updates.append(f"UPDATE audit SET prev_hash = {hexed(hub, prev)}, hash = {hexed(hub, h)} WHERE id = {r['id']}")
        prev = h
    tamper(hub, *updates, f"UPDATE audit_head SET last_id = {rows[-1]['id'] if rows else first - 1}, "
                          f"hash = {hexed(hub, prev)}")


def hexed(hub, b: bytes) -> str:
    return f"X'{b.hex()}'" if hub.engine.dialect.name == "sqlite" else f"'\\x{b.hex()}'::bytea"


def test_an_untouched_trail_verifies_and_names_its_head(trail, capsys):
    code, out = audit_verify(capsys)
    with trail.engine.connect() as conn:
        head = conn.execute(select(audit_head)).one()
        last = conn.execute(select(audit.c.id, audit.c.hash).order_by(audit.c.id.desc()).limit(1)).one()
    assert (head.last_id, bytes(head.hash)) == (last.id, bytes(last.hash)) == (18, bytes(last.hash))
    assert code == 0
    assert out == f"audit trail intact: 18 rows; its head (last row:sha256) is 18:{bytes(last.hash).hex()}"
    assert audit_verify(capsys, "--head", out.split()[-1]) == (0, out)


def test_each_row_is_chained_to_the_one_before_over_its_content(trail):
    with trail.engine.connect() as conn:
        rows = conn.execute(select(audit).order_by(audit.c.id)).mappings().all()
    prev = GENESIS
    for r in rows:
        assert bytes(r["prev_hash"]) == prev
        prev = row_hash(prev, r["id"], r["at"], r["actor"], r["subject"], r["subject_id"], r["bericht_id"],
                        r["action"], r["detail"])
        assert bytes(r["hash"]) == prev


@pytest.mark.parametrize("change", [
    "detail = 'nothing happened here'", "detail = NULL", "action = 'rejected'", "subject_id = 99",
    "bericht_id = 'OM-T-0000099'", "actor = 'someone'", "at = at + interval '1 second'",
])
def test_a_changed_row_is_reported(trail, capsys, change):
    if trail.engine.dialect.name == "sqlite" and "interval" in change:
        change = "at = '2026-01-01 00:00:00.000000'"
    tamper(trail, f"UPDATE audit SET {change} WHERE id = 5")
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 5: row 5 was changed after it was written: its "
                                       "content no longer matches its hash")


def test_a_row_replaced_with_a_new_hash_is_reported_at_that_row(trail, capsys):
    """Row 5 changed and given the hash that fits its new content: row 6 still names the old one."""
    with trail.engine.connect() as conn:
        r = conn.execute(select(audit).where(audit.c.id == 5)).mappings().one()
    h = row_hash(bytes(r["prev_hash"]), 5, r["at"], r["actor"], r["subject"], r["subject_id"], r["bericht_id"],
                 r["action"], "rejected: not valid")
    tamper(trail, f"UPDATE audit SET detail = 'rejected: not valid', hash = {hexed(trail, h)} WHERE id = 5")
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 5: row 5 was replaced: its hash is not the one "
                                       "row 6 was chained to")


@pytest.mark.parametrize("ids, expected", [
    ("7, 8", "audit trail BROKEN at row 7: rows 7 to 8 were deleted: row 9 is chained to a row that is gone"),
    ("12", "audit trail BROKEN at row 12: row 12 was deleted: row 13 is chained to a row that is gone"),
    ("1", "audit trail BROKEN at row 1: row 1 was deleted: row 2 is chained to a row that is gone"),
])
def test_deleted_rows_are_reported(trail, capsys, ids, expected):
    tamper(trail, f"DELETE FROM audit WHERE id IN ({ids})")
    assert audit_verify(capsys) == (1, expected)


def test_deleted_rows_are_reported_also_when_the_rest_is_renumbered(trail, capsys):
    tamper(trail, "DELETE FROM audit WHERE id IN (7, 8)",
           *[f"UPDATE audit SET id = {i - 2} WHERE id = {i}" for i in range(9, 19)])
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 7: rows 7 to 8 were deleted and the rows after "
                                       "renumbered: row 7 was written as row 9")


AT = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)  # of the rows put in by hand


def insert(hub, row_id: int, prev: bytes, h: bytes) -> str:
    """An INSERT of a delivered row with these links, as someone with the database might write it."""
    stamp = "2026-11-20 10:00:00" + ("+00" if hub.engine.dialect.name == "postgresql" else ".000000")
    return ("INSERT INTO audit (id, at, actor, subject, subject_id, action, detail, prev_hash, hash) VALUES "
            f"({row_id}, '{stamp}', 'ketenhub', 'delivery', 3, 'delivered', 'KBSP_1', {hexed(hub, prev)}, "
            f"{hexed(hub, h)})")


def chained_after(hub, previous: int, row_id: int) -> tuple[bytes, bytes]:
    """(prev_hash, hash) of such a row chained to row ``previous`` as the hub would chain it."""
    with hub.engine.connect() as conn:
        prev = bytes(conn.scalar(select(audit.c.hash).where(audit.c.id == previous)))
    return prev, row_hash(prev, row_id, AT, "ketenhub", "delivery", 3, None, "delivered", "KBSP_1")


def test_a_row_inserted_in_the_middle_without_a_fitting_hash_is_reported(trail, capsys):
    tamper(trail, *[f"UPDATE audit SET id = {i + 1} WHERE id = {i}" for i in range(18, 10, -1)],
           insert(trail, 11, b"1" * 32, b"2" * 32))
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 11: row 11 was replaced or inserted: neither its "
                                       "content nor its link to row 10 match")


def test_a_row_inserted_without_a_hash_is_reported(trail, capsys):
    tamper(trail, "INSERT INTO audit (id, at, actor, subject, subject_id, action, detail) "
                  "VALUES (19, '2026-11-20 10:00:00+00', 'ketenhub', 'delivery', 3, 'delivered', 'KBSP_1')")
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 19: row 19 carries no hash: it was inserted, "
                                       "or its hash wiped, outside the hub")


def test_a_row_inserted_in_the_middle_with_a_fitting_hash_is_reported(trail, capsys):
    """Rows 11 on moved up one, and a new row 11 chained to row 10 as the hub would have done."""
    prev, h = chained_after(trail, 10, 11)
    tamper(trail, *[f"UPDATE audit SET id = {i + 1} WHERE id = {i}" for i in range(18, 10, -1)],
           insert(trail, 11, prev, h))
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 11: row 11 was inserted: row 12 is chained to "
                                       "row 10, the row before them")


def test_rows_appended_with_fitting_hashes_but_past_the_head_are_reported(trail, capsys):
    tamper(trail, insert(trail, 19, *chained_after(trail, 18, 19)))
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 19: row 19 was added after the chain's head "
                                       "(table audit_head) (row 18), outside the hub")


def test_a_truncated_tail_is_reported(trail, capsys):
    tamper(trail, "DELETE FROM audit WHERE id > 15")
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 16: the chain was truncated: the chain's head "
                                       "(table audit_head) is row 18, but the trail ends at row 15")


def test_an_emptied_trail_is_reported(trail, capsys):
    """TRUNCATE fires no row trigger on PostgreSQL: it needs no disabling to work."""
    with trail.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE audit"))
    if trail.engine.dialect.name == "sqlite":
        tamper(trail, "DELETE FROM audit")
    assert audit_verify(capsys) == (1, "audit trail BROKEN at row 1: the audit trail is empty, but the chain's "
                                       "head (table audit_head) is row 18: it was truncated")


def test_a_truncated_tail_with_its_head_moved_back_shows_against_the_logged_head(trail, capsys):
    _, logged = audit_verify(capsys)
    tamper(trail, "DELETE FROM audit WHERE id > 15")
    rehash(trail, 16)  # the head set to row 15, as if the trail had always ended there
    assert audit_verify(capsys)[0] == 0  # what the database alone says
    assert audit_verify(capsys, "--head", logged.split()[-1]) == (
        1, "audit trail BROKEN at row 16: the chain was truncated: the head logged on the command line is row 18, "
           "but the trail ends at row 15")


def test_a_trail_rewritten_from_a_row_on_shows_against_the_logged_head(trail, capsys):
    _, logged = audit_verify(capsys)
    tamper(trail, "UPDATE audit SET detail = 'nothing to see' WHERE id = 4")
    rehash(trail, 4)
    assert audit_verify(capsys)[0] == 0
    with trail.engine.begin() as conn:  # the hub went on writing meanwhile
        record(conn, [Entry("batch", 1, "sending", detail="KBSP_2")])
    assert audit_verify(capsys, "--head", logged.split()[-1]) == (
        1, "audit trail BROKEN at row 18: the trail up to row 18 was rewritten: that row's hash is not the head "
           "logged on the command line")


def test_the_cli_is_a_process_with_exit_codes(trail, tmp_path):
    env = dict(os.environ, KETENHUB_HOME=str(tmp_path / "home"),
               KETENHUB_DATABASE_URL=trail.engine.url.render_as_string(hide_password=False))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "ketenhub.cli", "audit", "verify", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    assert run().returncode == 0
    tamper(trail, "UPDATE audit SET detail = 'x' WHERE id = 2")
    r = run()
    assert r.returncode == 1 and "BROKEN at row 2: row 2 was changed" in r.stdout
    assert run("--head", "18:zz").returncode == 2


def test_rows_of_a_rolled_back_transaction_leave_no_mark(trail, capsys):
    with pytest.raises(RuntimeError):
        with trail.engine.begin() as conn:
            record(conn, [Entry("batch", 1, "sending", detail="KBSP_1")])
            raise RuntimeError("crash")
    with trail.engine.begin() as conn:
        record(conn, [Entry("batch", 1, "sending", detail="KBSP_2")])
        record(conn, [Entry("batch", 1, "sent", detail="KBSP_2")])
    assert last_id(trail) == 20
    assert audit_verify(capsys)[0] == 0


def test_concurrent_writers_keep_one_chain(hub, capsys):
    """Several writers at once, each appending in many transactions: one unbroken chain, no id twice."""
    def writer(n: int) -> None:
        for i in range(25):
            with hub.engine.begin() as conn:
                record(conn, [Entry("delivery", n * 1000 + i, "pending", detail=f"writer {n}")] * 3)
                record(conn, [Entry("event", n * 1000 + i, "accepted", f"B-{n}-{i}")])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert last_id(hub) == 4 * 25 * 4
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(audit)) == 400
    assert audit_verify(capsys) == (0, f"audit trail intact: 400 rows; its head (last row:sha256) is "
                                       f"{verify(hub.engine).head.text()}")


def test_the_migration_chains_the_rows_written_before_it(database_url, capsys, monkeypatch, tmp_path):
    """A database at 0007, with rows written by the code of then, upgraded: the old rows are chained."""
    from alembic import command
    eng = create_engine(database_url)
    cfg = db.alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        for i in range(1, 6):
            conn.execute(text("INSERT INTO audit (at, actor, subject, subject_id, action, detail) VALUES "
                              "(:at, 'ketenhub', 'payload', :i, 'received', NULL)"),
                         {"at": datetime(2026, 11, 20, 9, i, tzinfo=timezone.utc), "i": i})
    eng.dispose()
    monkeypatch.setenv("KETENHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KETENHUB_DATABASE_URL", database_url)
    from ketenhub.hub import Hub
    hub = Hub()
    try:
        with hub.engine.begin() as conn:  # migrated to head on first use
            record(conn, [Entry("payload", 6, "received")])
        code, out = audit_verify(capsys)
        assert (code, out.split(";")[0]) == (0, "audit trail intact: 6 rows")
        tamper(hub, "UPDATE audit SET subject_id = 9 WHERE id = 3")
        assert audit_verify(capsys)[1].startswith("audit trail BROKEN at row 3: row 3 was changed")
        with pytest.raises(DBAPIError):  # and the append-only trigger is back
            with hub.engine.begin() as conn:
                conn.execute(text("UPDATE audit SET detail = 'x' WHERE id = 1"))
    finally:
        hub.engine.dispose()
        db.engine.cache_clear()


def test_refused_calls_are_listed_newest_first_with_their_reasons(hub, capsys):
    from ketenhub.store import inbound
    for reason in ("the message is not signed", "the signature does not cover To"):
        with hub.engine.begin() as conn:
            inbound.refuse_call(conn, "cjib", f"PubliceerSlachtofferinformatie refused: {reason}")
    assert cli.main(["audit", "calls", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("  ", 1)[1] for line in lines[:2]] == [
        "cjib: PubliceerSlachtofferinformatie refused: the signature does not cover To",
        "cjib: PubliceerSlachtofferinformatie refused: the message is not signed"]
    assert lines[2].startswith("2 refused call(s) shown")

