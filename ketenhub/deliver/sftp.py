"""CJIB over SFTP: write <name>.part, rename it to <name>, then write the <name>.sha256 marker.
A batch sent again after a crash keeps its name and OpdrachtIds: CJIB executes each once."""
from __future__ import annotations

import hashlib
import posixpath

from ketenhub.connections import Endpoint
from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.protocols.sftp import session


class SftpTransport(Transport):
    def __init__(self, endpoint: Endpoint, remote: str):
        self.endpoint = endpoint
        self.remote = posixpath.join(endpoint.extra.get("path") or "", remote)

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        final = posixpath.join(self.remote, name)
        with session(self.endpoint) as sftp:
            with sftp.open(final + ".part", "wb") as f:
                f.set_pipelined(True)
                for i in range(0, len(document), 1 << 20):
                    f.write(document[i:i + (1 << 20)])
            sftp.posix_rename(final + ".part", final)
            with sftp.open(final + ".sha256", "w") as f:
                f.write(f"{hashlib.sha256(document).hexdigest()}  {name}\n")
        return {k: ItemResult("delivered") for k in keys}

    def refused(self) -> dict[str, str]:
        folder = posixpath.join(self.remote, "rejected")
        with session(self.endpoint) as sftp:
            try:
                names = sftp.listdir(folder)
            except FileNotFoundError:
                return {}
            refused = {}
            for name in (n for n in names if n.endswith(".xml")):
                # The contract only says the file is moved; a reason beside it is a courtesy.
                reason = f"{name} moved to {folder}/ by the destination"
                if f"{name}.reden.txt" in names:
                    with sftp.open(posixpath.join(folder, f"{name}.reden.txt")) as f:
                        reason += ": " + f.read(2000).decode("utf-8", "replace").strip()
                refused[name] = reason
            return refused


def configured(hub, dest, ep, deadline: float) -> SftpTransport:
    return SftpTransport(ep, dest.remote or "inbox")
