"""The Schadefonds over SFTP, against a stock OpenSSH server and the project's simulator: the
OM's rules with the fund's names, from its adapter alone (no Python of its own)."""
import pytest
from sqlalchemy import func, select

from ketenhub import wiring
from ketenhub.simulators.om import publish_schadefonds
from ketenhub.store.tables import event, payload, quarantine
from tests.support import sftp_servers
from tests.support.factories import schadefonds_batch, schadefonds_event, write_with_marker


@pytest.fixture(params=["openssh", "simulator"])
def server(request, tmp_path, connection):
    s = sftp_servers.partner_outbox(request.param, request, tmp_path, connection, "schadefonds")
    yield s
    if s.simulator:
        s.simulator.stop()


def receive(hub):
    return wiring.receive(hub, hub.registry.partner("schadefonds"))


def count(hub, table):
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table).where(table.c.partner == "schadefonds"))


def test_reads_complete_files_and_archives_them_with_their_marker(hub, server):
    a = publish_schadefonds(server.folder / "outbox", "20270315", 1, 30, seed=1)
    publish_schadefonds(server.folder / "outbox", "20270315", 2, 10, start=31, seed=2, marker=False)  # still uploading
    (server.folder / "outbox" / "OM_ZAAKGEBEURTENISSEN_20270315_001.xml").write_text("<x/>")  # not the fund's name
    (report,) = receive(hub)
    assert (report.name, report.state, report.accepted, report.rejected) == (a.name, "accepted", 30, [])
    assert sorted(p.name for p in (server.folder / "archive").iterdir()) == [a.name, a.name + ".sha256"]
    assert sorted(p.name for p in (server.folder / "outbox").iterdir()) == [
        "OM_ZAAKGEBEURTENISSEN_20270315_001.xml", "SCHADEFONDS_AANVRAGEN_20270315_002.xml"]
    assert count(hub, event) == 30
    with hub.engine.connect() as conn:
        assert set(conn.scalars(select(event.c.kind).where(event.c.partner == "schadefonds"))) == {"Aanvraaggebeurtenis"}


def test_a_day_without_events_still_gets_a_file_which_is_taken(hub, server, sample):
    sample("schadefonds/SCHADEFONDS_AANVRAGEN_20270315_001.xml", server.folder / "outbox")
    empty = (hub.settings.schemas_dir / "schadefonds/examples/valid-03-lege-batch.xml").read_bytes()
    write_with_marker(server.folder / "outbox" / "SCHADEFONDS_AANVRAGEN_20270317_001.xml", empty)
    reports = {r.name: r for r in receive(hub)}
    assert {n: (r.state, r.accepted) for n, r in reports.items()} == {
        "SCHADEFONDS_AANVRAGEN_20270315_001.xml": ("accepted", 3),
        "SCHADEFONDS_AANVRAGEN_20270317_001.xml": ("accepted", 0)}
    assert len(list((server.folder / "archive").iterdir())) == 4


def test_the_same_file_again_is_archived_without_a_second_event(hub, server):
    publish_schadefonds(server.folder / "outbox", "20270315", 1, 5)
    receive(hub)
    again = publish_schadefonds(server.folder / "outbox", "20270316", 1, 5)  # same content, another name
    (report,) = receive(hub)
    assert report.state == "already-received" and (server.folder / "archive" / again.name).exists()
    assert count(hub, payload) == 1 and count(hub, event) == 5


def test_a_file_that_does_not_match_its_marker_is_rejected_with_a_reason(hub, server):
    bad = publish_schadefonds(server.folder / "outbox", "20270315", 1, 5)
    bad.with_name(bad.name + ".sha256").write_text("0" * 64 + "  " + bad.name + "\n")
    (report,) = receive(hub)
    assert report.state == "rejected" and report.problems[0].rule == "marker"
    assert "does not match" in (server.folder / "rejected" / f"{bad.name}.error.txt").read_text()
    assert count(hub, event) == 0


def test_the_control_count_and_the_sender_are_checked(hub, server):
    outbox = server.folder / "outbox"
    write_with_marker(outbox / "SCHADEFONDS_AANVRAGEN_20270315_001.xml",
                      schadefonds_batch([schadefonds_event(1), schadefonds_event(2)], count=3))
    write_with_marker(outbox / "SCHADEFONDS_AANVRAGEN_20270315_002.xml",
                      schadefonds_batch([schadefonds_event(3)], sender="00000099000000020000"))  # the OM's OIN
    reports = {r.name[-7:-4]: r for r in receive(hub)}
    assert {k: r.state for k, r in reports.items()} == {"001": "rejected", "002": "rejected"}
    assert reports["001"].problems[0].rule == "control-count" and "says 3 events but the file holds 2" in reports["001"].text()
    assert reports["002"].problems[0].rule == "sender" and "Schadefonds Geweldsmisdrijven is 00000099000000050000" in reports["002"].text()
    assert count(hub, event) == 0 and count(hub, quarantine) == 2


def test_one_invalid_event_does_not_block_the_others(hub, server):
    granted_without_amount = ("<Beslissing><Toegekend>true</Toegekend><Beslisdatum>2027-03-12</Beslisdatum>"
                              "</Beslissing>")
    write_with_marker(server.folder / "outbox" / "SCHADEFONDS_AANVRAGEN_20270315_001.xml", schadefonds_batch([
        schadefonds_event(1), schadefonds_event(2, "BESLISSING", beslissing=granted_without_amount),
        schadefonds_event(3, "BESLISSING")]))
    (report,) = receive(hub)
    assert report.accepted == 2 and [b for b, _ in report.rejected] == ["SF-T-0000002"]
    assert "must have a Bedrag" in report.rejected[0][1]
    assert (server.folder / "archive" / "SCHADEFONDS_AANVRAGEN_20270315_001.xml").exists()
