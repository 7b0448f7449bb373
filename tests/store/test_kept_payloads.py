"""A drop folder's small files are kept in the store with their rows (store.kept), in the same
transaction: not a file each under payloads/. Whatever reads kept payloads finds them there
(the payload page, masked for who may not see personal data; re-processing an event or a whole
payload; the privacy report), and retention deletes them when due, not before."""
from datetime import timedelta

from sqlalchemy import select

from ketenhub import operations as ops, provenance
from ketenhub.clock import now
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import DropFolder
from ketenhub.simulators import cvom as cvom_simulator
from ketenhub.store import retention
from ketenhub.store.tables import kept_payload, payload, quarantine
from ketenhub.wiring import deliver
from tests.conftest import DATA, tune
from tests.support.store import count

VALID = (DATA / "cvom/beroep-ontvangen.xml").read_bytes()


def receive(hub, partner, folder):
    return ingest_source(hub, partner, DropFolder(folder, partner.receive))


def kept_bytes(hub) -> dict[str, bytes]:
    """Each payload's kept bytes in the store, by its name."""
    with hub.engine.connect() as conn:
        return {name: bytes(content) for name, content in conn.execute(
            select(payload.c.name, kept_payload.c.content).join_from(
                kept_payload, payload, kept_payload.c.payload_id == payload.c.id))}


def test_the_files_of_a_group_are_kept_in_the_store_exactly_as_sent(hub, cvom):
    partner, folder = cvom
    paths = cvom_simulator.publish(folder, 6)
    sent = {p.name: p.read_bytes() for p in paths}
    reports = receive(hub, partner, folder)
    assert sum(r.accepted for r in reports) == 6
    assert kept_bytes(hub) == sent
    assert not list(hub.settings.payloads_dir.glob("*.xml"))  # no file of their own
    # Read where they are kept: the payload page shows them, masked unless personal data may be seen.
    with hub.engine.connect() as conn:
        payload_id = conn.scalar(select(payload.c.id).where(payload.c.name == paths[0].name))
    _, shown = provenance.payload_text(hub, payload_id, personal_data=True)
    assert shown == sent[paths[0].name].decode()
    _, masked = provenance.payload_text(hub, payload_id, personal_data=False)
    bsn = sent[paths[0].name].split(b"<Bsn>")[1].split(b"<")[0].decode()
    assert bsn not in masked and "•••" in masked


def test_a_file_alone_and_a_big_file_are_kept_as_files(hub, cvom):
    """Only files stored with others go into the store: one alone, or one larger than a group
    takes, is kept as a file, as before."""
    partner, folder = cvom
    tune(hub, group_payload_bytes=len(VALID) - 1)
    (folder / "CVOM_big.xml").write_bytes(VALID)
    receive(hub, partner, folder)
    assert count(hub, kept_payload) == 0 and len(list(hub.settings.payloads_dir.glob("*.xml"))) == 1


def test_a_group_that_fails_to_store_keeps_no_bytes_without_their_rows(hub, cvom, monkeypatch):
    """The bytes go in with their rows or not at all; a file then taken on its own is kept as a
    file, and every payload has its bytes kept somewhere."""
    from ketenhub.store import inbound
    partner, folder = cvom
    cvom_simulator.publish(folder, 4)
    add_payloads = inbound.add_payloads
    calls = []

    def fail_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the disk is full")
        return add_payloads(*args)

    monkeypatch.setattr(inbound, "add_payloads", fail_once)
    reports = receive(hub, partner, folder)
    assert sum(r.accepted for r in reports) == 4
    assert count(hub, kept_payload) == 0 and len(list(hub.settings.payloads_dir.glob("*.xml"))) == 4


def test_quarantined_events_and_payloads_of_a_group_are_reprocessed_from_the_store(hub, cvom):
    partner, folder = cvom
    cvom_simulator.publish(folder, 3)
    (folder / "CVOM_bad_event.xml").write_bytes(VALID.replace(b"<BerichtId>CVOM-2001", b"<Onbekend/><BerichtId>X-1", 1))
    (folder / "CVOM_bad_root.xml").write_bytes(b"<Beroep xmlns='urn:other'/>")
    receive(hub, partner, folder)
    assert len(kept_bytes(hub)) == 5 and not list(hub.settings.payloads_dir.glob("*.xml"))
    with hub.engine.connect() as conn:
        event_item = conn.scalar(select(quarantine.c.id).where(quarantine.c.raw.is_not(None)))
        payload_item = conn.scalar(select(quarantine.c.id).where(quarantine.c.raw.is_(None)))
    outcome = ops.reprocess(hub, [event_item, payload_item], "tester", "after the fix")
    reasons = {i.id: i.reason for i in outcome.items}
    # Still refused for what is wrong with them, which needs their kept bytes read: not for want of them.
    assert "(a name not in the contract)" in reasons[event_item]  # Onbekend, not in the contract
    assert "root element" in reasons[payload_item]
    assert not any("could not be re-processed" in r for r in reasons.values())


def test_the_privacy_report_says_whether_bytes_in_the_store_are_kept(hub, cvom):
    partner, folder = cvom
    (folder / "CVOM_1.xml").write_bytes(VALID)
    (folder / "CVOM_2.xml").write_bytes(VALID.replace(b"CVOM-2001", b"CVOM-2002"))
    receive(hub, partner, folder)
    _, held = retention.privacy_report(hub, "100000046", "privacy officer")
    notes = [h.note for h in held if h.kind == "payload"]
    assert notes == ["bytes kept", "bytes kept"]


def test_retention_deletes_bytes_kept_in_the_store_when_due_and_not_before(hub, cvom):
    partner, folder = cvom
    cvom_simulator.publish(folder, 5)
    receive(hub, partner, folder)
    assert count(hub, kept_payload) == 5
    assert retention.run(hub, at=now() + timedelta(days=200)).counts[("cvom", "payloads")] == 0  # deliveries due
    for destination in hub.registry.destinations.values():
        deliver(hub, destination)
    assert retention.run(hub, at=now() + timedelta(days=29)).counts[("cvom", "payloads")] == 0  # too young
    assert count(hub, kept_payload) == 5
    later = now() + timedelta(days=200)
    assert retention.run(hub, dry_run=True, at=later).counts[("cvom", "payloads")] == 5
    assert count(hub, kept_payload) == 5
    assert retention.run(hub, at=later).counts[("cvom", "payloads")] == 5
    assert count(hub, kept_payload) == 0 and count(hub, payload) == 5  # the rows stay, their bytes are gone
    assert retention.run(hub, at=later).counts[("cvom", "payloads")] == 0
    with hub.engine.connect() as conn:
        payload_id = conn.scalar(select(payload.c.id).limit(1))
    assert provenance.payload_text(hub, payload_id, personal_data=True)[1] is None


def test_a_file_of_a_group_grown_too_big_meanwhile_is_kept_as_a_file(hub, cvom, monkeypatch):
    """Its size when the group was made said small; when read, it is not: kept as a file."""
    from ketenhub import pipeline
    partner, folder = cvom
    (folder / "CVOM_1.xml").write_bytes(VALID)
    (folder / "CVOM_2.xml").write_bytes(VALID.replace(b"CVOM-2001", b"CVOM-2002"))
    tune(hub, group_payload_bytes=len(VALID) - 1)
    monkeypatch.setattr(pipeline, "_size", lambda item: 1)  # what it was a moment before
    reports = receive(hub, partner, folder)
    assert sum(r.accepted for r in reports) == 2
    assert count(hub, kept_payload) == 0 and len(list(hub.settings.payloads_dir.glob("*.xml"))) == 2


def test_a_copy_that_got_no_row_is_discarded_unless_a_payload_of_any_partner_has_those_bytes(hub, cvom):
    from ketenhub.store import kept
    partner, folder = cvom
    (path,) = cvom_simulator.publish(folder, 1)
    tune(hub, group_payloads=1)  # a file alone: kept as a file under payloads/
    (report,) = receive(hub, partner, folder)
    owned, stray = kept.file(hub.settings.payloads_dir, report.sha256), kept.file(hub.settings.payloads_dir, "0" * 64)
    stray.write_bytes(b"<read ahead/>")
    with hub.engine.connect() as conn:
        kept.discard(conn, hub.settings.payloads_dir, report.sha256)
        kept.discard(conn, hub.settings.payloads_dir, "0" * 64)
    assert owned.is_file() and not stray.exists()
