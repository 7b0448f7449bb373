"""Which transport a Connection selects, and what happens without one."""
import pytest

from ketenhub import wiring
from ketenhub.deliver.http import HttpDestination
from ketenhub.deliver.sftp import SftpTransport
from ketenhub.deliver.soap import SoapDestination
from ketenhub.deliver.transports import FolderTransport


def test_without_a_connection_the_command_line_uses_the_embedded_folders(hub):
    t = wiring.transport(hub, hub.registry.destination("kbsp"))
    assert isinstance(t, FolderTransport) and t.folder == hub.settings.path("outbox/kbsp")


def test_without_a_connection_a_dag_task_refuses(hub):
    with pytest.raises(wiring.MissingConnection, match="AIRFLOW_CONN_KETENHUB_DLV"):
        wiring.transport(hub, hub.registry.destination("dlv"), embedded=False)
    with pytest.raises(wiring.MissingConnection, match="ketenhub_om"):
        wiring.receive(hub, hub.registry.partner("om"), embedded=False)


def test_each_connection_type_selects_the_contracts_transport(hub, connection, tmp_path):
    connection("kbsp", "http", host="http://127.0.0.1:9/kbsp/slachtofferinformatie/v1")
    connection("dlv", "http", host="http://127.0.0.1:9")
    connection("cjib", "sftp", host="127.0.0.1", port=9, login="x", extra={"host_key": "ssh-ed25519 AAAA"})
    connection("om", "fs", extra={"path": str(tmp_path / "om")})
    kinds = {d: type(wiring.transport(hub, hub.registry.destination(d), embedded=False)) for d in ("kbsp", "dlv", "cjib")}
    assert kinds == {"kbsp": SoapDestination, "dlv": HttpDestination, "cjib": SftpTransport}
    assert wiring.receive(hub, hub.registry.partner("om"), embedded=False) == []  # an empty local folder
