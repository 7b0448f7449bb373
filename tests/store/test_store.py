"""The store: migrations, deduplication by BerichtId, append-only audit."""
import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DBAPIError

from ketenhub.store import db
from ketenhub.store.tables import audit, delivery, event, metadata, payload, quarantine
from tests.conftest import ingest, tune
from tests.support.factories import om_batch, om_event, write_with_marker
from tests.support.store import count



def test_migrations_create_every_table_and_their_own_version_table(hub):
    names = set(inspect(hub.engine).get_table_names())
    assert set(metadata.tables) <= names
    assert "ketenhub_alembic_version" in names and "alembic_version" not in names  # Airflow's stays Airflow's


def test_head_constant_is_alembics_head(hub):
    from alembic.script import ScriptDirectory
    assert ScriptDirectory.from_config(db.alembic_config()).get_current_head() == db.HEAD
    assert db.current_revision(hub.engine) == db.HEAD


def test_reingesting_the_same_file_creates_nothing_new(hub, tmp_path, sample):
    path = sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml")
    (first,) = ingest(hub, "om", path)
    before = (count(hub, event), count(hub, delivery))
    (again,) = ingest(hub, "om", path)
    assert first.accepted == 5 and again.state == "already-received"
    assert (count(hub, event), count(hub, delivery)) == before
    assert count(hub, audit, audit.c.action == "received-again") == 1


def test_the_same_event_in_another_file_is_a_duplicate(hub, tmp_path):
    a = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml", om_batch([om_event(1), om_event(2)]))
    b = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml",
                          om_batch([om_event(2), om_event(3), om_event(3)]))
    ingest(hub, "om", a)
    (report,) = ingest(hub, "om", b)
    assert (report.accepted, report.duplicates) == (1, 2)
    assert count(hub, event) == 3
    assert count(hub, delivery) == 3  # one informed victim each
    with hub.engine.connect() as conn:
        keys = conn.scalars(select(delivery.c.idempotency_key).order_by(delivery.c.id)).all()
        assert [k.split(".")[0] for k in keys] == ["OM-T-0000001", "OM-T-0000002", "OM-T-0000003"]
        assert conn.scalar(select(func.count()).select_from(payload)) == 2


def test_an_unfinished_payload_is_processed_again_without_duplicates(hub, tmp_path):
    """A crash after some chunks were stored leaves the payload 'received'; the resend completes it."""
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(i) for i in range(3)]))
    (first,) = ingest(hub, "om", path)
    with hub.engine.begin() as conn:
        conn.execute(payload.update().values(state="received"))
        conn.execute(delivery.delete().where(delivery.c.event_id == select(func.max(event.c.id)).scalar_subquery()))
        conn.execute(event.delete().where(event.c.bericht_id == "OM-T-0000002"))
    (again,) = ingest(hub, "om", path)
    assert (again.state, again.accepted, again.duplicates) == ("accepted", 1, 2)
    assert count(hub, event) == 3 and count(hub, delivery) == 3


def test_the_database_refuses_to_change_or_delete_audit_rows(hub, sample):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    for statement in (audit.update().values(action="forged"), audit.delete()):
        with pytest.raises(DBAPIError, match="append-only"):
            with hub.engine.begin() as conn:
                conn.execute(statement)
    assert count(hub, audit) == 3  # received, the event accepted (and its delivery made), accepted


def test_audit_trail_records_every_state_change(hub, sample):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    with hub.engine.connect() as conn:
        actions = conn.execute(select(audit.c.subject, audit.c.action, audit.c.detail).order_by(audit.c.id)).all()
        (made,) = conn.execute(select(delivery.c.id, delivery.c.destination, delivery.c.state)).all()
    # the delivery made pending is in its event's row
    assert [tuple(a[:2]) for a in actions] == [("payload", "received"), ("event", "accepted"), ("payload", "accepted")]
    assert made.state == "pending" and f"routed to {made.destination}:" in actions[1].detail
    assert actions[1].detail.endswith(f" (delivery {made.id})")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_big_load_leaves_fresh_planner_statistics_on_postgresql(hub, tmp_path, monkeypatch):
    """Without them PostgreSQL looks events up by partner alone, reading the whole table per chunk."""
    tune(hub, region_events=5, transaction_events=5, analyse_from=80)
    path = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                             om_batch([om_event(n) for n in range(1, 151)]))  # transactions of 5 to 7 events
    ingest(hub, "om", path)
    with hub.engine.connect() as conn:
        # What the planner believes each table holds, as the last ANALYZE counted (-1: never).
        planner = dict(conn.exec_driver_sql("SELECT relname, reltuples FROM pg_class WHERE relnamespace = "
                                            "current_schema()::regnamespace AND relkind = 'r'").all())
        # from a small sample: a histogram of 10 parts at most (PostgreSQL's default makes 100)
        bounds = conn.exec_driver_sql("SELECT array_length(histogram_bounds, 1) FROM pg_stats WHERE schemaname = "
                                      "current_schema() AND tablename = 'event' AND attname = 'bericht_id'").scalar()
    assert 80 <= planner["event"] < 150 and planner["delivery"] == planner["event"]  # analysed once 80 were stored
    assert bounds == 11


def test_audit_rows_name_the_rows_they_are_about(hub, tmp_path, monkeypatch):
    """On SQLite the new rows' ids are worked out, not looked up (store.bulk): the audit trail
    must still point at the right event and delivery, in every chunk, after other writes."""
    tune(hub, region_events=3)
    first = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                              om_batch([om_event(n, soort="UITSPRAAK", extra="<Beslissing><Uitkomst>VEROORDEELD"
                                        "</Uitkomst><Datum>2026-11-20</Datum><Geldboete>250</Geldboete></Beslissing>")
                                        for n in range(1, 8)]))
    second = write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_002.xml",
                               om_batch([om_event(n) for n in range(5, 12)]))  # 5..7 are duplicates
    ingest(hub, "om", first)
    ingest(hub, "om", second)
    with hub.engine.connect() as conn:
        events = dict(conn.execute(select(event.c.id, event.c.bericht_id)).all())
        deliveries = conn.execute(select(delivery.c.id, delivery.c.event_id, delivery.c.destination,
                                         delivery.c.recipient)).all()
        accepted = conn.execute(select(audit.c.subject_id, audit.c.bericht_id, audit.c.detail)
                                .where(audit.c.subject == "event", audit.c.action == "accepted")).all()
        pending = conn.scalar(select(func.count()).select_from(audit).where(audit.c.subject == "delivery"))
    assert len(events) == 11 and len(deliveries) == 7 * 2 + 4  # KbSP and a fine at CJIB each, then KbSP only
    assert sorted((i, b) for i, b, _ in accepted) == sorted(events.items())
    # each event's row names the deliveries it made, by id: no row of their own until they are sent
    routed = {i: detail.split("; routed to ")[1] for i, _, detail in accepted}
    assert routed == {e: ", ".join(f"{d}:{r} (delivery {i})" for i, event_id, d, r in sorted(deliveries)
                                   if event_id == e) for e in events}
    assert pending == 0


def test_bulk_inserts_keep_every_character_and_byte_as_given(hub):
    """On PostgreSQL rows go in by COPY in its binary format (store.bulk): every character and
    byte as given, NULL apart from the empty string, the timestamp to the microsecond."""
    from datetime import datetime, timezone

    from ketenhub.store.bulk import blob, insert_rows, value
    at = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=timezone.utc)  # the hub writes UTC only
    details = ["tab\there", "lines\nand\r\nreturns", "back\\slash \\N \\x00", "\\N", "Zoë ’s-Hertogenbosch €", None, ""]
    document = bytes(range(256)) + b"\\x"
    with hub.engine.begin() as conn:
        insert_rows(conn, audit, ("at", "actor", "subject", "subject_id", "action", "bericht_id", "detail"),
                    [(value(conn, audit.c.at, at), "test", "payload", n, "checked", d and f"B{d}", d)
                     for n, d in enumerate(details)])
        pid = conn.execute(payload.insert().values(partner="om", name="x", sha256="0" * 64, size=0, received_at=at,
                                                   state="accepted")).inserted_primary_key[0]
        insert_rows(conn, event, ("partner", "bericht_id", "payload_id", "kind", "soort", "state", "received_at",
                                  "canonical"),
                    [("om", "B\t1", pid, "zaak", "REGISTRATIE", "accepted", value(conn, event.c.received_at, at),
                      blob(document))])
    with hub.engine.connect() as conn:
        rows = conn.execute(select(audit.c.subject_id, audit.c.bericht_id, audit.c.detail, audit.c.at)
                            .where(audit.c.actor == "test").order_by(audit.c.subject_id)).all()
        stored = conn.execute(select(event.c.bericht_id, event.c.canonical)).one()
    assert [(r.bericht_id, r.detail) for r in rows] == [(d and f"B{d}", d) for d in details]
    assert all(r.at.replace(tzinfo=r.at.tzinfo or timezone.utc) == at for r in rows)
    assert (stored.bericht_id, bytes(stored.canonical)) == ("B\t1", document)


def test_bulk_inserted_rows_get_their_ids_in_order_across_statements(hub):
    """insert_rows writes many rows a statement on SQLite and the rest one by one: each id it
    returns is that of its own row, for a count that is not a whole number of statements."""
    from ketenhub.clock import now
    from ketenhub.store import bulk
    from ketenhub.store.bulk import insert_rows

    n = bulk._ROWS * 2 + 7
    with hub.engine.begin() as conn:
        ids = insert_rows(conn, audit, ("subject", "subject_id", "action", "detail"),
                          [("payload", k, "checked", f"row {k}") for k in range(n)],
                          same={"at": bulk.value(conn, audit.c.at, now()), "actor": "test"})
        stored = dict(conn.execute(select(audit.c.id, audit.c.subject_id).where(audit.c.actor == "test")).all())
    assert len(ids) == n and stored == {i: k for k, i in enumerate(ids)}


def test_a_statement_for_many_rows_reaches_each_row(hub):
    """execute_many sends PostgreSQL a few hundred statements a round trip: every row's own
    parameters, across more rows than one trip holds."""
    from ketenhub.clock import now
    from ketenhub.store import bulk

    n = bulk._ROWS_A_TRIP * 2 + 5
    with hub.engine.begin() as conn:
        ids = bulk.insert_rows(conn, payload, ("name", "sha256"), [(f"p{k}.xml", f"{k:064x}") for k in range(n)],
                               same={"partner": "om", "size": 1, "state": "receiving", "events_accepted": 0,
                                     "events_rejected": 0, "events_duplicate": 0,
                                     "received_at": bulk.value(conn, payload.c.received_at, now())})
        bulk.execute_many(conn, "UPDATE payload SET events_accepted = ?, reason = ? WHERE id = ?",
                          [(k, f"reason {k}", i) for k, i in enumerate(ids)])
        rows = conn.execute(select(payload.c.id, payload.c.events_accepted, payload.c.reason)).all()
    assert sorted(rows) == [(i, k, f"reason {k}") for k, i in enumerate(ids)]


def test_the_partial_indexes_leave_out_nulls_and_still_serve_lookups(hub, sample):
    """ix_delivery_batch and ix_audit_bericht leave out NULLs (most rows at ingest), yet claims by
    batch and traces by BerichtId still read them rather than the whole table."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.connect() as conn:
        if hub.engine.dialect.name == "sqlite":
            definitions = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE name IN "
                                                    "('ix_delivery_batch', 'ix_audit_bericht')").all())
            plans = [" ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}", (1,)).all()) for q in (
                "SELECT id FROM delivery WHERE batch_id = ?", "SELECT id FROM audit WHERE bericht_id = ?")]
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: a scan would win anyway
            # this schema's only: another test's schema may be dropped while the view is read
            definitions = dict(conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname IN ('ix_delivery_batch', 'ix_audit_bericht')").all())
            plans = [" ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {q}", (1,)).all()) for q in (
                "SELECT id FROM delivery WHERE batch_id = %s", "SELECT id FROM audit WHERE bericht_id = %s::text")]
    assert "WHERE batch_id IS NOT NULL" in definitions["ix_delivery_batch"].replace("(", "").replace(")", "")
    assert "WHERE bericht_id IS NOT NULL" in definitions["ix_audit_bericht"].replace("(", "").replace(")", "")
    assert "ix_delivery_batch" in plans[0] and "ix_audit_bericht" in plans[1]


def test_storing_a_delivery_builds_no_temporary_table_on_sqlite(hub, sample):
    """ix_delivery_settled's predicate is no IN list on SQLite, which would have it build a
    temporary table for every delivery row inserted; it still holds the settled rows only."""
    if hub.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's way of testing an IN list")
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    with hub.engine.begin() as conn:
        program = conn.exec_driver_sql(
            "EXPLAIN INSERT INTO delivery (event_id, destination, recipient, idempotency_key, document, state, "
            "attempts, next_attempt_at, created_at, updated_at) VALUES (1, 'kbsp', 'r', 'k', x'00', ?, 0, "
            "'2026-01-01', '2026-01-01', '2026-01-01')", ("pending",)).all()
        assert not [op for op in program if op[1] == "OpenEphemeral"]
        ids = [i for (i,) in conn.exec_driver_sql("SELECT id FROM delivery ORDER BY id").all()]
        assert len(ids) >= 4
        for state, i in zip(("delivered", "failed", "dead", "sending"), ids):
            conn.exec_driver_sql("UPDATE delivery SET state = ? WHERE id = ?", (state, i))
        in_index = {i for (i,) in conn.exec_driver_sql(
            "SELECT id FROM delivery INDEXED BY ix_delivery_settled "
            "WHERE (state = 'delivered' OR state = 'failed' OR state = 'dead')").all()}
    assert in_index == set(ids[:3])


def test_a_new_sqlite_store_has_16_kb_pages_and_an_existing_one_keeps_its_own(tmp_path):
    import sqlite3
    old = tmp_path / "old.db"
    made_before = sqlite3.connect(old)  # as the hub made its databases until 16 KB pages
    made_before.execute("PRAGMA page_size=4096")
    made_before.execute("PRAGMA journal_mode=WAL")
    made_before.close()
    for path, page_size in ((tmp_path / "new.db", 16384), (old, 4096)):
        engine = db.engine(f"sqlite:///{path}")
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA page_size").scalar() == page_size
                # either way a checkpoint comes after 256 MB of WAL
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() * page_size == 256 << 20
        finally:
            engine.dispose()  # its pooled connections would hold the file open after the test


def test_a_sqlite_commit_is_on_disk_before_the_hub_goes_on(tmp_path):
    """The hub confirms a Politie page, moves a file and settles a delivery after its commit:
    in WAL mode only synchronous=FULL (2) syncs the WAL at each commit."""
    engine = db.engine(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        engine.dispose()


def test_an_event_mapped_to_a_key_another_has_is_quarantined_and_the_rest_stored(hub):
    """A destination mapping that does not tell partners apart: the second event's delivery would
    be taken as a repeat of the first. That event waits in quarantine, with a reason that names
    no key; the others of its chunk are stored; the chunk stored again (a run after a crash)
    adds nothing."""
    from ketenhub.store import inbound

    def status(bericht_id: str, key: str) -> tuple:
        return (bericht_id, "Zaakgebeurtenis", "AANGIFTE", b"<Gebeurtenis/>", [("kbsp", key, "KR-1", b"<Zaakstatus/>")])

    with hub.engine.begin() as conn:
        first = inbound.add_payload(conn, "om", "first.xml", "1" * 64, 1)
        inbound.store_events(conn, "om", first, [status("OM-1", "SAME-KEY")], [])
        second = inbound.add_payload(conn, "om", "second.xml", "2" * 64, 1)
    chunk = [status("OM-2", "SAME-KEY"), status("OM-3", "OWN-KEY"), status("OM-4", "OWN-KEY")]
    for run, counts in ((1, (1, 0)), (2, (0, 1))):
        rejected = []
        with hub.engine.begin() as conn:
            assert inbound.store_events(conn, "om", second, chunk, rejected) == counts, run
        assert [(r.bericht_id, r.line) for r in rejected] == [("OM-2", None), ("OM-4", None)]
        assert [r.reason.split(",")[0] for r in rejected] == [
            "its delivery key for kbsp is taken by event OM-1 (om)", "its delivery key for kbsp is taken by event OM-3 (om)"]
        assert not any("KEY" in r.reason for r in rejected)
        with hub.engine.connect() as conn:
            assert sorted(conn.scalars(select(event.c.bericht_id))) == ["OM-1", "OM-3"]
            assert conn.execute(select(quarantine.c.bericht_id, quarantine.c.raw).order_by(quarantine.c.id)
                                ).all() == [("OM-2", None), ("OM-4", None)]
            assert conn.execute(select(payload.c.events_accepted, payload.c.events_rejected).where(
                payload.c.id == second)).one() == (1, 2)
    assert count(hub, delivery) == 2
