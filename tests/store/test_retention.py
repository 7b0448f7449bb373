"""Retention and the privacy officer (issue 23 item 15): what is past its period is purged, what
is younger or still due is not, the audit trail is pseudonymised and its chain still verifies;
the privacy report finds one person's data across partners and is audited without the BSN."""
import io
import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from ketenhub import cli
from ketenhub import operations as ops
from ketenhub.clock import now
from ketenhub.store import retention
from ketenhub.store.audit_chain import verify
from ketenhub.store.tables import audit, delivery, event, kept_payload, payload, quarantine
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import DropFolder
from ketenhub.wiring import deliver
from tests.conftest import ingest
from tests.store.test_audit_chain import audit_verify, hexed, tamper
from tests.support.factories import om_batch, om_event

BSN = "123456782"  # a suspect in the OM sample and a victim in the Politie melding


@pytest.fixture
def held(hub, sample, tmp_path):
    """OM's sample (5 events), a Politie melding, an OM batch with one broken event; KbSP's
    deliveries delivered (to its folder), CJIB's still pending."""
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    broken = tmp_path / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml"
    broken.write_bytes(om_batch([om_event(1), om_event(2, soort="UITSPRAAK")]))  # an UITSPRAAK needs a Beslissing
    ingest(hub, "om", broken)
    assert deliver(hub, hub.registry.destination("kbsp")).delivered > 0
    return hub


def state(hub) -> dict:
    with hub.engine.connect() as conn:
        return {
            "events": conn.scalar(select(func.count()).where(event.c.canonical != b"")),
            "deliveries": conn.scalar(select(func.count()).where(delivery.c.document != b"")),
            "pending": conn.scalar(select(func.count()).where(delivery.c.state == "pending",
                                                              delivery.c.document != b"")),
            "quarantine": conn.scalar(select(func.count()).where(quarantine.c.reason != retention.PURGED)),
            "files": len(list(hub.settings.payloads_dir.glob("*.xml"))),
            "audit in clear": conn.scalar(select(func.count()).where(audit.c.bericht_digest.is_(None),
                                                                     audit.c.detail_digest.is_(None))),
        }


def counts(report, kind: str) -> int:
    return sum(n for (_, k), n in report.counts.items() if k == kind)


def test_dry_run_counts_what_the_run_purges_and_changes_nothing(held, capsys):
    hub, before = held, state(held)
    later = now() + timedelta(days=200)  # past every default period
    dry = retention.run(hub, dry_run=True, at=later)
    assert state(hub) == before
    real = retention.run(hub, at=later)
    assert real.counts == dry.counts and real.audit_rows == dry.audit_rows > 0
    after = state(hub)
    kbsp, cjib = real.counts[("kbsp", "deliveries")], real.counts[("cjib", "deliveries")]
    assert kbsp > 0 and cjib == 0  # CJIB's deliveries are still pending: never purged
    assert after["pending"] == before["pending"] > 0
    assert after["deliveries"] == before["deliveries"] - kbsp
    # Events with a CJIB delivery still due keep their canonical document, and their payload its file.
    with hub.engine.connect() as conn:
        due = conn.scalar(select(func.count(func.distinct(delivery.c.event_id))).where(delivery.c.state == "pending"))
        total = conn.scalar(select(func.count()).select_from(event))
    assert after["events"] == due > 0 and counts(real, "events") == total - due
    assert counts(real, "quarantine") == before["quarantine"] > 0 and after["quarantine"] == 0
    # A purged item has nothing left to re-process: it leaves the operators' list, and is not re-processed.
    with hub.engine.connect() as conn:
        items = list(conn.scalars(select(quarantine.c.id)))
    assert ops.list_quarantine(hub) == []
    assert ops.reprocess(hub, items, "tester", "after the fix") == {"accepted": 0, "still_rejected": 0, "selected": 0}
    assert counts(real, "payloads") == before["files"] - after["files"] > 0
    with hub.engine.connect() as conn:  # the quarantined bytes are gone, the OM sample's file is not
        assert conn.scalar(select(func.count()).where(quarantine.c.raw.is_not(None), quarantine.c.raw != b"")) == 0
        sha = conn.scalar(select(payload.c.sha256).where(payload.c.name == "OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    assert (hub.settings.payloads_dir / f"{sha}.xml").exists()
    # The trail: pseudonymised rows, no BerichtId of a purged event in clear, and the chain intact.
    assert after["audit in clear"] == before["audit in clear"] - real.audit_rows + 1  # + the retention row
    with hub.engine.connect() as conn:
        purged = set(conn.scalars(select(event.c.bericht_id).where(event.c.canonical == b"")))
        in_clear = set(conn.scalars(select(audit.c.bericht_id).where(audit.c.bericht_id.is_not(None))))
        (row,) = conn.execute(select(audit).where(audit.c.subject == "retention")).all()
    assert purged and not purged & in_clear
    assert any(b.startswith("PS-") for b in in_clear)
    assert row.action == "purged" and "kbsp deliveries" in row.detail
    code, out = audit_verify(capsys)
    assert code == 0 and out.startswith("audit trail intact"), out
    # Nothing left to do: a second run purges nothing and pseudonymises nothing.
    again = retention.run(hub, at=later)
    assert again.total() == 0 and again.audit_rows == 0


def test_a_payloads_name_and_reason_go_with_its_bytes(hub, sample, tmp_path, capsys):
    """A file's name is the partner's choice (a drop folder's may name a person): once its bytes
    are purged, its row and its audit rows keep neither its name nor a refusal's reason."""
    named = tmp_path / "bezwaar-Jansen-739137001.xml"
    named.write_bytes(sample("cvom/beroep-ontvangen.xml").read_bytes())
    ingest(hub, "cvom", named)
    (tmp_path / "kapot-Jansen.xml").write_bytes(b"<BeroepGebeurtenis>")
    ingest(hub, "cvom", tmp_path / "kapot-Jansen.xml")
    for d in hub.registry.destinations.values():  # nothing still to deliver keeps the bytes
        deliver(hub, d)
    later = now() + timedelta(days=400)  # past the quarantine's period too: the refused file's bytes go
    assert retention.run(hub, dry_run=True, at=later).counts[("cvom", "payload names")] == 2
    assert retention.run(hub, at=later).counts[("cvom", "payload names")] == 2
    with hub.engine.connect() as conn:
        rows = conn.execute(select(payload.c.name, payload.c.reason)).all()
        details = " ".join(d for d in conn.scalars(select(audit.c.detail).where(audit.c.detail.is_not(None))))
    assert set(rows) == {(retention.PURGED, None), (retention.PURGED, retention.PURGED)}
    assert "Jansen" not in details
    assert audit_verify(capsys)[0] == 0
    assert retention.run(hub, at=later).counts[("cvom", "payload names")] == 0


def test_nothing_younger_than_its_period_is_touched(held):
    hub, before = held, state(held)
    report = retention.run(hub, at=now() + timedelta(days=29))  # younger than every period
    assert report.total() == 0 and report.audit_rows == 0 and state(hub) == before
    # Past the events' and deliveries' 90 days, not the quarantine's 180.
    report = retention.run(hub, at=now() + timedelta(days=91))
    assert counts(report, "events") > 0 and counts(report, "deliveries") > 0
    assert counts(report, "quarantine") == 0 and state(hub)["quarantine"] == before["quarantine"]


def test_an_adapters_own_period_applies(held, monkeypatch):
    from dataclasses import replace
    hub = held
    om = hub.registry.partners["om"]
    monkeypatch.setitem(hub.registry.partners, "om", replace(om, retention=replace(om.retention, quarantine=10)))
    report = retention.run(hub, at=now() + timedelta(days=11))
    assert report.counts[("om", "quarantine")] > 0 and counts(report, "events") == 0


def test_a_pseudonymised_rows_digest_changed_is_still_caught(held, capsys):
    hub = held
    retention.run(hub, at=now() + timedelta(days=200))
    with hub.engine.connect() as conn:
        first = conn.scalar(select(func.min(audit.c.id)).where(audit.c.bericht_digest.is_not(None)))
    assert audit_verify(capsys)[0] == 0
    tamper(hub, f"UPDATE audit SET bericht_digest = {hexed(hub, bytes(32))} WHERE id = {first}")
    assert audit_verify(capsys) == (1, f"audit trail BROKEN at row {first}: row {first} was changed after it was "
                                       f"written: its content no longer matches its hash")


def test_detail_digest_changed_or_row_unblanked_is_caught(held, capsys):
    hub = held
    retention.run(hub, at=now() + timedelta(days=200))
    with hub.engine.connect() as conn:
        row = conn.scalar(select(func.min(audit.c.id)).where(audit.c.detail_digest.is_not(None)))
    tamper(hub, f"UPDATE audit SET detail_digest = NULL, detail = 'something else' WHERE id = {row}")
    code, out = audit_verify(capsys)
    assert (code, out.split(":")[0]) == (1, f"audit trail BROKEN at row {row}")


def test_the_cli_counts_per_partner_and_kind_and_prints_nothing_personal(held, capsys):
    hub = held
    with hub.engine.begin() as conn:  # what time does: everything received 200 days ago
        old = now() - timedelta(days=200)
        for table, column in ((event, "received_at"), (payload, "received_at"), (quarantine, "created_at"),
                              (delivery, "updated_at")):
            conn.execute(update(table).values({column: old}))
        bericht_ids = set(conn.scalars(select(event.c.bericht_id)))
    assert cli.main(["retention", "run", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "retention (would purge):" in dry and "kbsp: deliveries" in dry and "om: events" in dry
    assert cli.main(["retention", "run"]) == 0
    out = capsys.readouterr().out
    assert out.replace("purged", "would purge").replace("pseudonymised", "to pseudonymise") == dry
    assert BSN not in out and not any(b in out for b in bericht_ids)
    assert audit_verify(capsys)[0] == 0


def test_privacy_report_finds_a_person_across_partners_and_is_audited_without_the_bsn(held, capsys, monkeypatch):
    hub = held
    assert cli.main(["privacy", "report", "--bsn", BSN]) == 0
    out = capsys.readouterr().out
    marker = retention.pseudonym(hub.settings.ketenreferentie_key, "bsn", BSN)
    assert out.startswith(f"privacy report for BSN pseudonym {marker}")
    lines = out.splitlines()[1:]
    with hub.engine.connect() as conn:
        expected = {(e.partner, e.id) for e in conn.execute(select(event.c.partner, event.c.id))
                    if f">{BSN}<".encode() in e_canonical(conn, e.id)}
    found = {(line.split()[2], int(line.split()[1])) for line in lines if line.split()[0] == "event"}
    assert found == expected and {p for p, _ in found} == {"om", "politie"}
    assert any(line.split()[0] == "delivery" for line in lines)
    assert any(line.split()[0] == "quarantine" and line.split()[2] == "om" for line in lines)
    assert any(line.split()[0] == "payload" and "bytes kept" in line for line in lines)
    assert BSN not in out
    with hub.engine.connect() as conn:
        (row,) = conn.execute(select(audit).where(audit.c.subject == "privacy")).all()
        everything = " ".join(str(v) for r in conn.execute(select(audit.c.detail, audit.c.bericht_id)) for v in r)
    assert row.action == "report" and marker in row.detail and row.actor in row.detail
    assert BSN not in everything
    assert audit_verify(capsys)[0] == 0
    # Someone of whom nothing is held: an empty report, audited too.
    assert cli.main(["privacy", "report", "--bsn", "999999990"]) == 0
    assert "0 items" in capsys.readouterr().out
    assert cli.main(["privacy", "report", "--bsn", "12345"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO(BSN + "\n"))  # out of the shell's history
    assert cli.main(["privacy", "report", "--bsn", "-"]) == 0
    assert capsys.readouterr().out == out


def test_privacy_report_reads_the_kept_bytes_for_what_no_event_holds(hub, sample, tmp_path):
    """A payload refused whole (no event, no quarantined event of its own) and a convict's data,
    which the mapping leaves out of every event: the report finds them in the kept bytes."""
    refused = tmp_path / "OM_ZAAKGEBEURTENISSEN_20261122_001.xml"
    refused.write_bytes(om_batch([om_event(1, victim_bsn="739137001")], count=2))  # the count is wrong
    ingest(hub, "om", refused)
    ingest(hub, "cjib", sample("cjib/valid-01-vonnis-vrijlating-verlof.xml"))
    with hub.engine.connect() as conn:
        ids = dict(conn.execute(select(payload.c.partner, payload.c.id)).all())
        assert conn.scalar(select(func.count()).select_from(event).where(event.c.canonical.contains(b"805888718"))) == 0
    # A drop folder's small files are kept in the store (kept_payload), not as files: one holds
    # the BSN in a text the contract refused, where no element holds it alone.
    drop = tmp_path / "drop"
    drop.mkdir()
    text = sample("cvom/beroep-ontvangen.xml").read_text()
    (drop / "a.xml").write_text(text.replace("<BerichtId>", "<BerichtId>bezwaar van 314159265: ", 1))
    (drop / "b.xml").write_text(text.replace("CVOM-", "CVOM-B-"))
    partner = hub.registry.partner("cvom")
    ingest_source(hub, partner, DropFolder(drop, partner.receive))
    with hub.engine.connect() as conn:
        ids = dict(conn.execute(select(payload.c.partner, payload.c.id).where(payload.c.name != "b.xml")).all())
        assert conn.scalar(select(func.count()).select_from(kept_payload)) >= 2
    for bsn, partner in (("739137001", "om"), ("805888718", "cjib"), ("314159265", "cvom")):
        _, held = retention.privacy_report(hub, bsn, "tester")
        assert [(h.kind, h.id) for h in held if h.kind == "payload"] == [("payload", ids[partner])], bsn
    assert retention.privacy_report(hub, "999999990", "tester")[1] == []
    assert retention.privacy_report(hub, "141592652", "tester")[1] == []  # within a longer number: not it
    # Within a text of an accepted event: its canonical document and its deliveries hold it too.
    (held_event,) = [h for h in retention.privacy_report(hub, "314159265", "tester")[1] if h.kind == "event"]
    assert held_event.who == "cvom"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "cp500"])
def test_privacy_report_finds_a_bsn_in_a_payload_kept_as_sent_in_another_encoding_or_in_its_name(
        hub, sample, tmp_path, encoding):
    """A payload refused for not being UTF-8 is kept as sent, each digit two or four bytes (or
    EBCDIC's); a partner's file may be named after the person. The report finds both, and not
    nine digits of a longer number, whatever comes before it."""
    drop = tmp_path / "drop"
    drop.mkdir()
    text = sample("cvom/beroep-ontvangen.xml").read_text()
    (drop / "c.xml").write_bytes(text.replace("<BerichtId>", "<BerichtId>bezwaar van 271828182, bel “0612345678” of "
                                              "€0698765432: ", 1).encode(encoding, errors="replace"))
    (drop / "beroep-161803398.xml").write_text(text.replace("CVOM-", "CVOM-N-"))
    partner = hub.registry.partner("cvom")
    ingest_source(hub, partner, DropFolder(drop, partner.receive))
    with hub.engine.connect() as conn:
        ids = dict(conn.execute(select(payload.c.name, payload.c.id)).all())
    for bsn, name in (("271828182", "c.xml"), ("161803398", "beroep-161803398.xml")):
        assert [(h.kind, h.id) for h in retention.privacy_report(hub, bsn, "tester")[1]] == [("payload", ids[name])]
    for within_a_longer_number in ("612345678", "698765432"):
        assert retention.privacy_report(hub, within_a_longer_number, "tester")[1] == []


@pytest.mark.parametrize("written, held", [
    (b"<Bsn>&#55;39137001</Bsn>", True),
    (b"<Bsn>&#x37;&#X33;9137&#0048;01</Bsn>", True),
    (b'{"bsn": "\\u0037391370\\u00301"}', True),
    (b"1&#55;39137001", False),  # within a longer number
    (b"&#49;&#55;39137001", False),
    (b"&#55;391370011", False),
    (b"&#55;39137001\\u0030", False),
    (b"&#55;39137002", False),
])
def test_a_bsn_is_found_with_its_digits_escaped_as_a_parser_reads_them(written, held):
    assert retention._mentions(written, b"739137001") is held


def test_privacy_report_finds_a_bsn_written_as_character_references(hub, sample, tmp_path):
    """A parser reads &#55; as 7: a quarantined event and a refused payload that write the BSN
    so hold it as much as those that write it plainly."""
    batch = tmp_path / "OM_ZAAKGEBEURTENISSEN_20261122_001.xml"
    batch.write_bytes(om_batch([om_event(1), om_event(2, bsn="12", victim_bsn="&#x37;3913700&#49;")]))
    ingest(hub, "om", batch)
    drop = tmp_path / "drop"
    drop.mkdir()
    text = sample("cvom/beroep-ontvangen.xml").read_text()
    (drop / "a.xml").write_text(text.replace("<BerichtId>", "<BerichtId>bezwaar van &#50;71828182: ", 1) + "<")
    partner = hub.registry.partner("cvom")
    ingest_source(hub, partner, DropFolder(drop, partner.receive))
    with hub.engine.connect() as conn:
        ids = dict(conn.execute(select(payload.c.partner, payload.c.id)).all())
        (quarantined,) = conn.scalars(select(quarantine.c.id).where(quarantine.c.bericht_id == "OM-T-0000002"))
    assert [(h.kind, h.id) for h in retention.privacy_report(hub, "739137001", "tester")[1]] == \
        [("quarantine", quarantined), ("payload", ids["om"])]
    assert [(h.kind, h.id) for h in retention.privacy_report(hub, "271828182", "tester")[1]] == \
        [("payload", ids["cvom"])]


def test_privacy_report_finds_a_bsn_in_a_drop_folders_archives_by_name_or_bytes(hub, sample, capsys):
    """A drop folder moves what it took to processed/ and what it refused to rejected/: a file
    refused for its name has no payload row at all. The report finds such files by their name
    or their bytes, and names only their folder."""
    from ketenhub import wiring
    partner = hub.registry.partner("cvom")
    drop = hub.settings.path(partner.receive.folder)
    drop.mkdir(parents=True, exist_ok=True)
    text = sample("cvom/beroep-ontvangen.xml").read_text()
    (drop / os.fsdecode(b"\xff777777772-a.xml")).write_text(text)  # refused: its name is not UTF-8
    (drop / "b.xml").write_text(text.replace("<BerichtId>", "<BerichtId>bezwaar van 888888884: ", 1))
    ingest_source(hub, partner, DropFolder(drop, partner.receive))
    archives = wiring.archives(hub)
    assert [(h.kind, h.note) for h in retention.privacy_report(hub, "777777772", "tester", archives)[1]] == \
        [("archive", f"a file in {drop / 'rejected'}")] * 2  # the file and its error report
    found = [h.kind for h in retention.privacy_report(hub, "888888884", "tester", archives)[1]]
    assert found.count("archive") == 1 and {"event", "payload"} <= set(found)  # and a copy in processed/
    assert cli.main(["privacy", "report", "--bsn", "777777772"]) == 0
    out = capsys.readouterr().out
    assert "2 items" in out and "777777772" not in out


def test_privacy_report_after_retention_names_what_is_left(held, capsys):
    hub = held
    retention.run(hub, at=now() + timedelta(days=200))
    assert cli.main(["privacy", "report", "--bsn", BSN]) == 0
    out = capsys.readouterr().out
    # The purged canonical documents no longer mention the BSN; events with a delivery still due do.
    with hub.engine.connect() as conn:
        kept = {e.id for e in conn.execute(select(event.c.id).where(event.c.canonical != b""))
                if f">{BSN}<".encode() in e_canonical(conn, e.id)}
    found = {int(line.split()[1]) for line in out.splitlines()[1:] if line.split()[0] == "event"}
    assert found == kept


def e_canonical(conn, event_id: int) -> bytes:
    return bytes(conn.scalar(select(event.c.canonical).where(event.c.id == event_id)))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_hubs_insert_only_role_purges_but_leaves_the_trail_to_the_owner(hub_role, sample, database_url, capsys,
                                                                           monkeypatch):
    hub, _ = hub_role
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    later = now() + timedelta(days=200)
    with hub.engine.begin() as conn:  # CJIB's deliveries settled too, so that every event may go
        conn.execute(update(delivery).values(state="dead"))
    report = retention.run(hub, at=later)
    assert counts(report, "events") == 5 and report.audit_rows == 0
    assert "only the tables' owner may" in report.audit_skipped
    assert "not pseudonymised: the database role may not change audit rows" in "\n".join(report.lines())
    assert verify(hub.engine).intact
    # The owner's run (the nightly DAG's Connection) pseudonymises what the hub's role could not.
    monkeypatch.setenv("KETENHUB_DATABASE_URL", database_url)
    from ketenhub.hub import Hub
    owner = Hub()
    report = retention.run(owner, at=later)
    assert report.total() == 0 and report.audit_rows > 0 and report.audit_skipped is None
    assert verify(owner.engine).intact


def test_rows_chained_before_0011_are_left_and_keep_verifying(database_url, capsys, monkeypatch, tmp_path):
    """A trail written at 0007 and chained by 0010 keeps its encoding: retention leaves its rows
    (changing them would break the chain) and pseudonymises only rows written since 0011."""
    from datetime import datetime, timezone

    from alembic import command
    from sqlalchemy import create_engine

    from ketenhub.hub import Hub
    from ketenhub.store import db
    from ketenhub.store.audit import Entry, record
    eng = create_engine(database_url)
    cfg = db.alembic_config()
    at = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        conn.execute(text("INSERT INTO payload (id, partner, name, sha256, size, received_at, state, events_accepted, "
                          "events_rejected, events_duplicate) VALUES (1, 'om', 'f.xml', 'abc', 1, :at, 'accepted', "
                          "2, 0, 0)"), {"at": at})
        for i in (1, 2):
            conn.execute(text("INSERT INTO event (id, partner, bericht_id, payload_id, kind, soort, state, "
                              "received_at, canonical) VALUES (:i, 'om', :b, 1, 'Zaakgebeurtenis', 'INSCHRIJVING', "
                              "'accepted', :at, :c)"), {"i": i, "b": f"OM-OLD-{i}", "at": at, "c": b"<x/>"})
        conn.execute(text("INSERT INTO audit (at, actor, subject, subject_id, bericht_id, action, detail) VALUES "
                          "(:at, 'ketenhub', 'event', 1, 'OM-OLD-1', 'accepted', 'old detail')"), {"at": at})
    eng.dispose()
    monkeypatch.setenv("KETENHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KETENHUB_DATABASE_URL", database_url)
    hub = Hub()
    try:
        with hub.engine.begin() as conn:  # migrated to head on first use; a row in the new encoding
            record(conn, [Entry("event", 2, "accepted", "OM-OLD-2", "new detail")])
        report = retention.run(hub, at=now() + timedelta(days=200))
        assert report.counts[("om", "events")] == 2 and report.audit_rows == 1
        with hub.engine.connect() as conn:
            rows = conn.execute(select(audit.c.id, audit.c.bericht_id, audit.c.detail).order_by(audit.c.id)).all()
        assert rows[0][1:] == ("OM-OLD-1", "old detail")  # before 0011: as it was
        assert rows[1][1].startswith("PS-") and rows[1][2] is None
        code, out = audit_verify(capsys)
        assert code == 0 and out.startswith("audit trail intact: 3 rows")  # and the retention run's row
        tamper(hub, "UPDATE audit SET detail = 'changed' WHERE id = 1")
        assert audit_verify(capsys)[1].startswith("audit trail BROKEN at row 1: row 1 was changed")
    finally:
        hub.engine.dispose()
        db.engine.cache_clear()


def test_a_failed_delivery_whose_document_was_purged_is_not_replayed(held):
    from ketenhub import operations as ops
    from ketenhub.states import DeliveryState
    hub = held
    with hub.engine.begin() as conn:  # CJIB's deliveries refused for good, long ago
        conn.execute(delivery.update().where(delivery.c.destination == "cjib").values(
            state=DeliveryState.FAILED, updated_at=now() - timedelta(days=200)))
    failed = ops.Filter(destination="cjib")
    assert ops.replay(hub, failed, "tester", "dry", dry_run=True) > 0
    retention.run(hub)
    assert ops.replay(hub, failed, "tester", "after retention") == 0  # nothing left to send


def test_after_retention_a_delivery_shows_and_an_event_traces_as_before(held, capsys):
    hub = held
    retention.run(hub, at=now() + timedelta(days=200))
    with hub.engine.connect() as conn:
        delivery_id, event_id, bericht_id = conn.execute(
            select(delivery.c.id, event.c.id, event.c.bericht_id).join_from(delivery, event)
            .where(delivery.c.document == b"", event.c.canonical == b"")).first()
    assert ops.show_delivery(hub, delivery_id, personal_data=False)["document"] == ""  # purged: nothing to mask
    assert cli.main(["deliveries", "show", str(delivery_id)]) == 0
    assert "(purged by retention)" in capsys.readouterr().out
    from ketenhub.store.audit import trace
    with hub.engine.connect() as conn:
        rows = trace(conn, bericht_id)
    assert any(r["subject"] == "event" and r["subject_id"] == event_id and r["action"] == "accepted" for r in rows)


def test_a_drop_folders_archived_copies_go_with_the_payloads_period(hub, sample, capsys):
    """processed/ and rejected/ hold the partner's files under their own names: retention empties
    them of what was moved there longer ago than the partner's payloads are kept."""
    from ketenhub import wiring
    drop = hub.settings.path(hub.registry.partner("cvom").receive.folder)  # no Connection: the embedded folder
    drop.mkdir(parents=True)
    sample("cvom/beroep-ontvangen.xml", drop)
    (drop / "kapot-Jansen.xml").write_bytes(b"<BeroepGebeurtenis>")
    partner = hub.registry.partner("cvom")
    ingest_source(hub, partner, DropFolder(drop, partner.receive))
    kept = sorted(p.name for p in drop.rglob("*") if p.is_file())
    assert kept == ["beroep-ontvangen.xml", "kapot-Jansen.xml", "kapot-Jansen.xml.error.txt"]
    assert retention.run(hub, at=now(), archives=wiring.archives(hub)).counts[("cvom", "archived files")] == 0
    later = now() + timedelta(days=31)
    dry = retention.run(hub, dry_run=True, at=later, archives=wiring.archives(hub))
    assert dry.counts[("cvom", "archived files")] == 2 and len(list(drop.rglob("*.xml"))) == 2
    assert retention.run(hub, at=later, archives=wiring.archives(hub)).counts[("cvom", "archived files")] == 2
    assert [p for p in drop.rglob("*") if p.is_file()] == []
    assert cli.main(["retention", "run", "--dry-run"]) == 0 and "cvom: archived files 0" in capsys.readouterr().out


def test_an_archive_folder_that_is_a_link_is_not_followed(hub, tmp_path):
    """What a link leads to is not the drop folder's: nothing there is deleted, and the run says so."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "someone-elses.xml").write_bytes(b"<x/>")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "processed").symlink_to(elsewhere)
    report = retention.run(hub, at=now() + timedelta(days=400), archives={"cvom": [drop / "processed"]})
    assert (elsewhere / "someone-elses.xml").exists() and report.counts[("cvom", "archived files")] == 0
    assert any("archive not emptied" in line and "processed" in line for line in report.lines())
