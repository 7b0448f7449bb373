"""Which transport a Connection selects, and what happens without one."""
from datetime import datetime, timezone

import pytest

from ketenhub import clock, wiring
from ketenhub.deliver.http import HttpDestination
from ketenhub.deliver.sftp import SftpTransport
from ketenhub.deliver.soap import SoapDestination
from ketenhub.deliver.transports import FolderTransport


BEFORE_THE_SWITCH = datetime(2027, 2, 1, 12, tzinfo=timezone.utc)  # KbSP takes v1 and v2 until 2027-03-01


def test_without_a_connection_the_command_line_uses_the_embedded_folders(hub):
    with clock.at(BEFORE_THE_SWITCH):
        t = wiring.transport(hub, hub.registry.destination("kbsp"))
    assert isinstance(t.of("v1"), FolderTransport) and t.of("v1").folder == hub.settings.path("outbox/kbsp")
    assert isinstance(t.of("v2"), FolderTransport) and t.of("v2").folder == hub.settings.path("outbox/kbsp-v2")


def test_each_version_in_use_has_its_own_connection_and_a_missing_one_refuses(hub, connection):
    connection("kbsp", "http", host="http://127.0.0.1:9/kbsp/slachtofferinformatie/v1")
    with clock.at(BEFORE_THE_SWITCH), pytest.raises(wiring.MissingConnection, match="ketenhub_kbsp_v2"):
        wiring.transport(hub, hub.registry.destination("kbsp"), embedded=False)
    connection("kbsp_v2", "http", host="http://127.0.0.1:9/kbsp/slachtofferinformatie/v2")
    with clock.at(BEFORE_THE_SWITCH):
        t = wiring.transport(hub, hub.registry.destination("kbsp"), embedded=False)
    assert (t.of("v1").client.address, t.of("v2").client.address) == (
        "http://127.0.0.1:9/kbsp/slachtofferinformatie/v1", "http://127.0.0.1:9/kbsp/slachtofferinformatie/v2")
    with clock.at(datetime(2027, 3, 1, tzinfo=timezone.utc)):  # after the switch v1 needs no Connection
        assert set(wiring.transport(hub, hub.registry.destination("kbsp"), embedded=False).by_version) == {"v2"}


def test_without_a_connection_a_dag_task_refuses(hub):
    with pytest.raises(wiring.MissingConnection, match="AIRFLOW_CONN_KETENHUB_DLV"):
        wiring.transport(hub, hub.registry.destination("dlv"), embedded=False)
    with pytest.raises(wiring.MissingConnection, match="ketenhub_om"):
        wiring.receive(hub, hub.registry.partner("om"), embedded=False)


def test_each_connection_type_selects_the_contracts_transport(hub, connection, tmp_path):
    connection("kbsp", "http", host="http://127.0.0.1:9/kbsp/slachtofferinformatie/v1")
    connection("kbsp_v2", "http", host="http://127.0.0.1:9/kbsp/slachtofferinformatie/v2")
    connection("dlv", "http", host="http://127.0.0.1:9")
    connection("cjib", "sftp", host="127.0.0.1", port=9, login="x", extra={"host_key": "ssh-ed25519 AAAA"})
    connection("om", "fs", extra={"path": str(tmp_path / "om")})
    kinds = {d: type(wiring.transport(hub, hub.registry.destination(d), embedded=False)) for d in ("dlv", "cjib")}
    kinds["kbsp"] = type(wiring.transport(hub, hub.registry.destination("kbsp"), embedded=False).of("v2"))
    assert kinds == {"kbsp": SoapDestination, "dlv": HttpDestination, "cjib": SftpTransport}
    assert wiring.receive(hub, hub.registry.partner("om"), embedded=False) == []  # an empty local folder
