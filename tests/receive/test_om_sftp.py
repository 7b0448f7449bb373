"""OM over SFTP, against the project's simulator and against a stock OpenSSH server."""
import pytest
from sqlalchemy import func, select

from ketenhub import wiring
from ketenhub.protocols.sftp import HostKeyError
from ketenhub.simulators.om import publish
from ketenhub.store.tables import event, payload
from tests import sftp_servers


@pytest.fixture(params=["simulator", "openssh"])
def server(request, tmp_path, connection):
    if request.param == "simulator":
        s = sftp_servers.simulator(tmp_path)
    else:
        s = sftp_servers.openssh(request.getfixturevalue("openssh"), tmp_path)
    for folder in ("outbox", "archive"):  # the contract names these two; rejected/ the hub makes
        (s.folder / folder).mkdir(parents=True, exist_ok=True)
    connection("om", "sftp", **s.fields)
    yield s
    if s.simulator:
        s.simulator.stop()


def receive(hub):
    return wiring.receive(hub, hub.registry.partner("om"))


def count(hub, table):
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def test_reads_complete_files_and_archives_them_with_their_marker(hub, server):
    a = publish(server.folder / "outbox", "20261120", 1, 40, seed=1)
    publish(server.folder / "outbox", "20261120", 2, 10, start=41, seed=2, marker=False)  # upload still running
    (report,) = receive(hub)
    assert (report.name, report.state, report.accepted) == (a.name, "accepted", 40)
    assert sorted(p.name for p in (server.folder / "archive").iterdir()) == [a.name, a.name + ".sha256"]
    assert sorted(p.name for p in (server.folder / "outbox").iterdir()) == ["OM_ZAAKGEBEURTENISSEN_20261120_002.xml"]
    assert count(hub, event) == 40
    assert not list((hub.settings.path("work") / "om").glob("*"))  # no local leftovers


def test_same_content_under_another_name_is_archived_without_reprocessing(hub, server):
    publish(server.folder / "outbox", "20261120", 1, 5)
    receive(hub)
    again = publish(server.folder / "outbox", "20261121", 1, 5)  # same content, new name
    (report,) = receive(hub)
    assert report.state == "already-received"
    assert (server.folder / "archive" / again.name).exists()
    assert count(hub, payload) == 1 and count(hub, event) == 5


def test_an_old_marker_on_new_content_is_rejected_not_skipped(hub, server):
    first = publish(server.folder / "outbox", "20261120", 1, 5)
    old_marker = first.with_name(first.name + ".sha256").read_text()
    receive(hub)
    new = publish(server.folder / "outbox", "20261121", 1, 5, start=6)
    new.with_name(new.name + ".sha256").write_text(old_marker)
    (report,) = receive(hub)
    assert report.state == "rejected" and report.problems[0].rule == "marker"
    assert (server.folder / "rejected" / new.name).exists()


def test_a_file_that_does_not_match_its_marker_is_rejected_with_a_reason(hub, server, no_wait):
    bad = publish(server.folder / "outbox", "20261120", 1, 5)
    bad.with_name(bad.name + ".sha256").write_text("0" * 64 + "  " + bad.name + "\n")
    (report,) = receive(hub)
    assert report.state == "rejected" and report.problems[0].rule == "marker"
    error = (server.folder / "rejected" / f"{bad.name}.error.txt").read_text()
    assert "does not match" in error
    assert (server.folder / "rejected" / bad.name).exists()


def test_an_unknown_host_key_is_refused(hub, server, connection):
    other = sftp_servers.simulator(server.folder.parent / "other")
    connection("om", "sftp", **server.with_host_key(other.simulator.host_key_line))
    publish(server.folder / "outbox", "20261120", 1, 5)
    with pytest.raises(HostKeyError, match="refused"):
        receive(hub)
    other.simulator.stop()
    assert count(hub, payload) == 0


def test_no_configured_host_key_is_refused_not_accepted(hub, server, connection):
    fields = dict(server.fields, extra={k: v for k, v in server.fields["extra"].items() if k != "host_key"})
    connection("om", "sftp", **fields)
    with pytest.raises(HostKeyError, match="accepts no unknown host keys"):
        receive(hub)


def test_an_interrupted_download_is_retried_from_scratch(hub, tmp_path, connection, no_wait):
    s = sftp_servers.simulator(tmp_path)
    connection("om", "sftp", **s.fields)
    for folder in ("outbox", "archive"):
        (s.folder / folder).mkdir()
    size = publish(s.folder / "outbox", "20261120", 1, 2000).stat().st_size
    s.simulator.drop_after_bytes = size // 2
    (report,) = receive(hub)
    assert report.accepted == 2000
    assert s.simulator.transferred > size * 1.4  # read twice, the first time half way
    assert count(hub, payload) == 1
    s.simulator.stop()


def test_a_refused_login_fails_the_run_and_the_next_run_loses_nothing(hub, tmp_path, connection):
    s = sftp_servers.simulator(tmp_path)
    connection("om", "sftp", **s.fields)
    for folder in ("outbox", "archive"):
        (s.folder / folder).mkdir()
    publish(s.folder / "outbox", "20261120", 1, 20)
    s.simulator.fail_logins = 1
    import paramiko
    with pytest.raises(paramiko.AuthenticationException):
        receive(hub)  # the task fails visibly; Airflow retries it
    (report,) = receive(hub)
    assert report.accepted == 20 and count(hub, payload) == 1
    s.simulator.stop()
