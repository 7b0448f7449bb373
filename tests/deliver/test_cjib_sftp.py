"""CJIB over SFTP: .part, rename, marker; CJIB checks totals and executes each OpdrachtId once."""
import os
import socket
import threading
import time

import pytest
from sqlalchemy import func, select

from ketenhub.wiring import deliver
from ketenhub.deliver.transports import Transport
from ketenhub.simulators.cjib import CjibInbox
from ketenhub.simulators.om import publish
from ketenhub.store.tables import delivery
from tests.support import sftp_servers
from tests.conftest import expire_leases, ingest
from tests.support.sshd import free_port


@pytest.fixture(params=["simulator", "openssh"])
def cjib(request, tmp_path, connection):
    s = sftp_servers.simulator(tmp_path) if request.param == "simulator" else \
        sftp_servers.openssh(request.getfixturevalue("openssh"), tmp_path)
    s.inbox = CjibInbox(s.folder)
    connection("cjib", "sftp", **s.fields)
    yield s
    if s.simulator:
        s.simulator.stop()


def test_batch_arrives_whole_with_marker_and_passes_cjibs_checks(hub, cjib, sample):
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    report = deliver(hub, hub.registry.destination("cjib"))
    assert report.delivered == 5
    names = sorted(p.name for p in (cjib.folder / "inbox").iterdir() if p.is_file())
    assert len(names) == 2 and names[1] == names[0] + ".sha256" and not any(n.endswith(".part") for n in names)
    cjib.inbox.process()
    assert cjib.inbox.state() == {"executed": 5, "repeats": 0, "rejected": {}}


def test_a_batch_interrupted_mid_upload_is_sent_again_and_executed_once(hub, tmp_path, connection, sample, no_wait):
    s = sftp_servers.simulator(tmp_path)
    (s.folder / "inbox").mkdir()
    connection("cjib", "sftp", **s.fields)
    inbox = CjibInbox(s.folder)
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    s.simulator.drop_after_bytes = 1000
    assert deliver(hub, hub.registry.destination("cjib")).retry == 5
    inbox.process()
    assert inbox.state()["executed"] == 0  # half a file under .part: never taken
    assert deliver(hub, hub.registry.destination("cjib")).delivered == 5
    inbox.process()
    assert inbox.state() == {"executed": 5, "repeats": 0, "rejected": {}}
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(delivery).where(delivery.c.state == "delivered")) == 5
    s.simulator.stop()


def test_cjib_executes_an_opdracht_sent_twice_once(hub, tmp_path, connection, sample):
    """After a crash between upload and bookkeeping the batch is sent again: no second effect."""
    s = sftp_servers.simulator(tmp_path)
    (s.folder / "inbox").mkdir()
    connection("cjib", "sftp", **s.fields)
    inbox = CjibInbox(s.folder)
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    from ketenhub import wiring
    real = wiring.transport(hub, hub.registry.destination("cjib"))

    class CrashAfterUpload(Transport):
        def send(self, name, document, keys):
            real.send(name, document, keys)
            inbox.process()  # CJIB takes it before the hub records it
            raise SystemExit("killed")
    with pytest.raises(SystemExit):
        deliver(hub, hub.registry.destination("cjib"), CrashAfterUpload())
    expire_leases(hub)
    assert deliver(hub, hub.registry.destination("cjib")).delivered == 5
    inbox.process()
    assert inbox.state() == {"executed": 5, "repeats": 5, "rejected": {}}
    s.simulator.stop()


def test_a_file_cjib_refuses_later_turns_its_deliveries_failed_for_replay(hub, cjib, sample):
    from ketenhub import operations as ops
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    deliver(hub, hub.registry.destination("cjib"))
    (sent,) = (cjib.folder / "inbox").glob("*.xml")
    sent.write_bytes(sent.read_bytes().replace(b"450.50", b"450.51"))  # damaged on CJIB's side
    cjib.inbox.process()
    assert cjib.inbox.state()["rejected"] == {sent.name: "marker does not match the file"}
    report = deliver(hub, hub.registry.destination("cjib"))
    assert report.failed == 5
    failed = ops.list_deliveries(hub, ops.Filter(destination="cjib"), personal_data=True)  # CJIB's reason
    assert len(failed) == 5 and all("marker does not match the file" in r["last_error"] for r in failed)
    assert ops.replay(hub, ops.Filter(destination="cjib"), "tester", "CJIB refused the file") == 5
    assert deliver(hub, hub.registry.destination("cjib")).delivered == 5
    cjib.inbox.process()
    assert cjib.inbox.state()["executed"] == 5
    assert deliver(hub, hub.registry.destination("cjib")).failed == 0  # a refusal is taken once


def test_cjib_down_leaves_its_deliveries_pending_to_retry(hub, tmp_path, connection, sample):
    """Reading back refused files must not keep the run from counting the failed attempt."""
    s = sftp_servers.simulator(tmp_path)
    s.simulator.stop()
    connection("cjib", "sftp", **{**s.fields, "port": free_port()})  # nothing listens there
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    report = deliver(hub, hub.registry.destination("cjib"))
    assert (report.delivered, report.retry) == (0, 5)
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(delivery).where(
            delivery.c.state == "pending", delivery.c.attempts == 1)) == 5


class DroppingRelay:
    """A TCP relay to a real server that cuts the first connection in which the client sends
    more than ``after`` bytes: a connection dropped mid-upload, for a server without such a switch."""

    def __init__(self, port: int, after: int):
        self.upstream, self.after, self.dropped = port, after, False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src, dst, upload):
        sent = 0
        try:
            while data := src.recv(65536):
                sent += len(data)
                if upload and sent > self.after and not self.dropped:
                    self.dropped = True
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def leftovers(folder):
    return sorted(p.name for p in (folder / "inbox").iterdir() if p.is_file())


@pytest.mark.parametrize("kind", ["simulator", "openssh"])
def test_an_upload_dropped_midway_leaves_no_part_file_in_cjibs_inbox(request, hub, tmp_path, connection, no_wait, kind):
    ingest(hub, "om", publish(tmp_path / "om", "20261120", 1, 400))
    if kind == "simulator":
        s = sftp_servers.simulator(tmp_path)
        s.simulator.drop_after_bytes = 5_000
        fields = s.fields
    else:
        s = sftp_servers.openssh(request.getfixturevalue("openssh"), tmp_path)
        relay = DroppingRelay(s.fields["port"], after=12_000)
        fields = {**s.fields, "port": relay.port}
    (s.folder / "inbox").mkdir()
    connection("cjib", "sftp", **fields)
    inbox = CjibInbox(s.folder)
    report = deliver(hub, hub.registry.destination("cjib"))
    assert report.delivered == 0 and report.retry > 0
    assert leftovers(s.folder) == []  # no .part, and no file without its marker
    assert deliver(hub, hub.registry.destination("cjib")).delivered == report.retry
    assert [n for n in leftovers(s.folder) if n.endswith(".part")] == []
    inbox.process()
    assert inbox.state()["repeats"] == 0 and inbox.state()["rejected"] == {}
    if s.simulator:
        s.simulator.stop()
    else:
        relay.close()


def test_a_part_file_that_could_not_be_removed_is_swept_by_a_later_send(hub, cjib, sample):
    """What a failed upload left when the server was gone right after: the hub's own old .part files."""
    inbox = cjib.folder / "inbox"
    inbox.mkdir(exist_ok=True)
    left = inbox / "KETENHUB_CJIB_20261119_001.xml.part"
    fresh = inbox / "KETENHUB_CJIB_20261120_099.xml.part"  # another worker's upload, still running
    foreign = inbox / "SOMEONE_ELSE.xml.part"
    for p in (left, fresh, foreign):
        p.write_bytes(b"<half")
    two_hours_ago = time.time() - 2 * 3600
    for p in (left, foreign):
        os.utime(p, (two_hours_ago, two_hours_ago))
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    assert deliver(hub, hub.registry.destination("cjib")).delivered == 5
    assert not left.exists() and fresh.exists() and foreign.exists()
