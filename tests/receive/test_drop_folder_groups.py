"""A drop folder of many small files is stored a group at a time: a few transactions, not one
per file, while each file is still archived only after its events are committed and a bad
file is rejected on its own, with its own reason."""
import pytest
from sqlalchemy import event as sa_event, select

from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import DropFolder
from ketenhub.simulators import cvom as cvom_simulator
from ketenhub.store import inbound
from ketenhub.store.audit_chain import verify
from ketenhub.store.tables import delivery, event, payload
from tests.conftest import DATA, tune
from tests.support.store import count

VALID = (DATA / "cvom/beroep-ontvangen.xml").read_bytes()


def commits(hub) -> list[int]:
    made = []
    sa_event.listen(hub.engine, "commit", lambda conn: made.append(1))
    return made


def test_files_ready_together_are_stored_in_a_few_transactions(hub, cvom):
    partner, folder = cvom
    tune(hub, group_payloads=10)
    paths = cvom_simulator.publish(folder, 25)
    bad = paths[7]
    bad.write_bytes(bad.read_bytes().replace(b"<BerichtId>", b"<Onbekend/><BerichtId>", 1))
    hub.engine  # migrated before counting
    made = commits(hub)
    reports = ingest_source(hub, partner, DropFolder(folder, partner.receive))
    assert len(made) == 3  # groups of 10, 10 and 5 files: a transaction each
    assert len(reports) == 25 and sum(r.accepted for r in reports) == 24
    assert sorted(p.name for p in (folder / "processed").glob("*.xml")) == sorted(p.name for p in paths if p != bad)
    assert [p.name for p in (folder / "rejected").glob("*.xml")] == [bad.name]
    reason = (folder / "rejected" / f"{bad.name}.error.txt").read_text()
    assert "(a name not in the contract)" in reason and bad.name in reason  # its own reason, and no other file's
    assert not list(folder.glob("*.xml"))
    assert count(hub, payload) == 25 and count(hub, event) == 24
    assert verify(hub.engine).intact


def test_a_group_that_fails_to_store_is_taken_file_by_file(hub, cvom, monkeypatch):
    """One file whose storing fails does not keep the others of its group from being stored;
    it stays in the drop folder, to be read again by the next run."""
    partner, folder = cvom
    paths = cvom_simulator.publish(folder, 6)
    failing = paths[2]
    store_chunks = inbound.store_chunks

    def store(conn, partner_name, chunks):  # the group's statement, and each file's on its own
        names = conn.execute(select(payload.c.name).where(payload.c.id.in_([c[0] for c in chunks]))).scalars()
        if failing.name in names:
            raise RuntimeError("the disk is full")
        return store_chunks(conn, partner_name, chunks)

    monkeypatch.setattr(inbound, "store_chunks", store)
    with pytest.raises(RuntimeError):
        ingest_source(hub, partner, DropFolder(folder, partner.receive))
    assert [p.name for p in folder.glob("*.xml")] == [failing.name]
    assert len(list((folder / "processed").glob("*.xml"))) == 5
    assert count(hub, event) == 5 and count(hub, payload, payload.c.state == "accepted") == 5
    monkeypatch.setattr(inbound, "store_chunks", store_chunks)
    ingest_source(hub, partner, DropFolder(folder, partner.receive))
    assert not list(folder.glob("*.xml")) and count(hub, event) == 6
    assert count(hub, payload) == 6 and count(hub, payload, payload.c.state == "accepted") == 6
    assert verify(hub.engine).intact


def test_a_file_changed_while_its_group_was_stored_is_left_in_place(hub, cvom):
    """The identity check on hand-back holds for a file whose group was stored after it was read."""
    partner, folder = cvom
    paths = cvom_simulator.publish(folder, 3)
    source = DropFolder(folder, partner.receive)
    ready = source.ready

    def ready_then_swap():
        for item in ready():
            yield item
            if item.name == paths[0].name:  # read (not yet stored): the partner puts another file under the name
                paths[0].unlink()
                paths[0].write_bytes(VALID)

    source.ready = ready_then_swap
    ingest_source(hub, partner, source)
    assert paths[0].exists() and paths[0].read_bytes() == VALID  # not archived: it is not the file that was read
    assert sorted(p.name for p in (folder / "processed").glob("*.xml")) == sorted(p.name for p in paths[1:])
    with hub.engine.connect() as conn:
        keys = conn.scalars(select(delivery.c.idempotency_key)).all()
    assert len(keys) == len(set(keys))


def test_a_refused_file_stored_but_never_handed_back_is_still_refused(hub, cvom):
    """A crash after a group's commit, before its files were moved: the next run finds them
    received, archives the good ones and still rejects the one whose event was refused."""
    partner, folder = cvom
    paths = cvom_simulator.publish(folder, 3)
    bad = paths[1]
    bad.write_bytes(bad.read_bytes().replace(b"<BerichtId>", b"<Onbekend/><BerichtId>", 1))
    source = DropFolder(folder, partner.receive)
    source.done = lambda *a: None  # the process died right after the commit
    ingest_source(hub, partner, source)
    del source
    assert all(p.exists() for p in paths) and count(hub, payload) == 3
    ingest_source(hub, partner, DropFolder(folder, partner.receive))
    assert [p.name for p in (folder / "rejected").glob("*.xml")] == [bad.name]
    assert sorted(p.name for p in (folder / "processed").glob("*.xml")) == sorted(p.name for p in paths if p != bad)
    assert count(hub, payload) == 3 and count(hub, event) == 2


def test_a_file_sent_twice_in_a_group_and_one_received_before_are_each_known_again(hub, cvom):
    """The group's new payloads are stored together; a copy of one of them in the same group, and a
    file received in an earlier run, are found received as when each file is taken on its own."""
    partner, folder = cvom
    paths = cvom_simulator.publish(folder, 4)
    ingest_source(hub, partner, DropFolder(folder, partner.receive))
    (folder / "again.xml").write_bytes((folder / "processed" / paths[0].name).read_bytes())
    more = cvom_simulator.publish(folder, 7)[4:]  # the simulator numbers from 1: the last three are new
    for p in paths[:4]:
        p.unlink(missing_ok=True)
    (folder / "copy.xml").write_bytes(more[0].read_bytes())
    reports = {r.name: r for r in ingest_source(hub, partner, DropFolder(folder, partner.receive))}
    assert reports["again.xml"].state == "already-received"
    assert sorted(r.state for r in reports.values()) == ["accepted"] * 3 + ["already-received"] * 2
    assert sum(r.accepted for r in reports.values()) == 3
    assert count(hub, payload) == 7 and count(hub, event) == 7
    with hub.engine.connect() as conn:
        assert conn.execute(select(payload.c.events_accepted).where(payload.c.state == "accepted")).scalars().all() \
            == [1] * 7
    assert not list(folder.glob("*.xml")) and verify(hub.engine).intact
