"""A real OpenSSH server (Debian's openssh-server) on a free loopback port, with its own host
key, accepting one client key for the current user; SFTP starts in a scratch folder."""
from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OpenSSH:
    def __init__(self, workdir: Path):
        self.dir = workdir
        self.root = workdir / "files"
        self.root.mkdir(parents=True)
        keys = workdir / "keys"
        keys.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "host")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "client")], check=True)
        (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
        self.host_key_line = " ".join((keys / "host.pub").read_text().split()[:2])
        self.client_key = (keys / "client").read_text()
        self.user = getpass.getuser()
        self.port = free_port()
        config = workdir / "sshd_config"
        config.write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {keys / 'host'}
PidFile {workdir / 'sshd.pid'}
AuthorizedKeysFile {keys / 'authorized_keys'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp -d {self.root}
""")
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=open(workdir / "sshd.log", "wb"))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start: " + (workdir / "sshd.log").read_text())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
