"""SFTP servers for the tests: the project's simulator and a stock OpenSSH server, each giving
a fresh folder and the Connection fields that reach it."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import paramiko

from ketenhub.simulators.sftp import SftpSimulator


@dataclass
class Server:
    kind: str
    folder: Path  # what the hub sees as its SFTP home, on local disk
    fields: dict  # Connection fields: host, port, login, password/extra
    simulator: SftpSimulator | None = None

    def with_host_key(self, host_key: str) -> dict:
        return {**self.fields, "extra": {**self.fields["extra"], "host_key": host_key}}


def simulator(tmp_path: Path) -> Server:
    client_key = paramiko.ECDSAKey.generate()
    sim = SftpSimulator(tmp_path / "sftp-root", authorized_key=client_key).start()
    import io
    pem = io.StringIO()
    client_key.write_private_key(pem)
    fields = dict(host="127.0.0.1", port=sim.port, login="ketenhub",
                  extra={"host_key": sim.host_key_line, "private_key": pem.getvalue()})
    return Server("simulator", sim.root, fields, sim)


def openssh(server, tmp_path: Path) -> Server:
    sub = f"t{uuid.uuid4().hex[:10]}"
    folder = server.root / sub
    folder.mkdir()
    fields = dict(host="127.0.0.1", port=server.port, login=server.user,
                  extra={"host_key": server.host_key_line, "private_key": server.client_key, "path": sub})
    return Server("openssh", folder, fields)


def partner_outbox(kind: str, request, tmp_path: Path, connection, partner: str):
    """A partner's SFTP server (simulator or OpenSSH) with the contract's outbox/ and archive/,
    and the Connection ketenhub_<partner> that reaches it; stop() it when done."""
    s = simulator(tmp_path) if kind == "simulator" else openssh(request.getfixturevalue("openssh"), tmp_path)
    for folder in ("outbox", "archive"):  # the contract names these two; rejected/ the hub makes
        (s.folder / folder).mkdir(parents=True, exist_ok=True)
    connection(partner, "sftp", **s.fields)
    return s
