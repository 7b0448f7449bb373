"""CJIB over SFTP: write <name>.part, rename it to <name>, then write the <name>.sha256 marker.
A batch sent again after a crash keeps its name and OpdrachtIds: CJIB executes each once.

An upload that fails leaves nothing behind in CJIB's inbox: its <name>.part (and a <name>
whose marker was not written) is removed, over a new connection as the old one may have
dropped. A failed batch is retried under a new name, so a .part that could not be removed
then (the server was gone) is swept at a later send, once it is older than any upload takes."""
from __future__ import annotations

import logging
import posixpath
import stat
import time

from ketenhub.connections import Endpoint
from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.markers import marker_text
from ketenhub.names import name_problem, shown
from ketenhub.protocols.sftp import HostKeyError, listdir, session
from ketenhub.states import Outcome

log = logging.getLogger(__name__)
STALE_SECONDS = 3600  # an upload left this long is abandoned: the lease of a batch is 10 minutes


class SftpTransport(Transport):
    def __init__(self, endpoint: Endpoint, remote: str):
        self.endpoint = endpoint
        self.remote = posixpath.join(endpoint.extra.get("path") or "", remote)

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        final = posixpath.join(self.remote, name)
        left = []  # what a failure now would leave in the inbox
        try:
            with session(self.endpoint) as sftp:
                self._sweep(sftp, name)
                left = [final + ".part"]
                with sftp.open(final + ".part", "wb") as f:
                    f.set_pipelined(True)
                    for i in range(0, len(document), 1 << 20):
                        f.write(document[i:i + (1 << 20)])
                left = [final + ".sha256", final, final + ".part"]  # a file without its marker CJIB never takes
                sftp.posix_rename(final + ".part", final)
                with sftp.open(final + ".sha256", "w") as f:
                    f.write(marker_text(document, name))
        except HostKeyError:
            raise  # nothing was written: the server was not trusted
        except Exception:
            self._remove(left)
            raise
        return {k: ItemResult(Outcome.DELIVERED) for k in keys}

    def _remove(self, paths: list[str]) -> None:
        """Best effort, on a connection of its own: the one that failed may be gone."""
        if not paths:
            return
        try:
            with session(self.endpoint, timeout=10) as sftp:
                for path in paths:
                    try:
                        sftp.remove(path)
                    except FileNotFoundError:
                        pass
        except Exception as e:
            log.warning("removing what a failed upload left in %s failed (%s): a later send sweeps it",
                        self.remote, type(e).__name__)

    def _sweep(self, sftp, name: str) -> None:
        """The hub's own .part files of uploads that failed earlier and could not be removed
        then, once they are older than any upload takes."""
        prefix = name.rsplit("_", 2)[0] + "_"  # KETENHUB_CJIB_: this destination's names
        try:
            for attr in listdir(sftp, self.remote):
                entry = attr.filename
                if (entry.startswith(prefix) and entry.endswith(".part") and not name_problem(entry)
                        and stat.S_ISREG(attr.st_mode or 0) and attr.st_mtime is not None
                        and time.time() - attr.st_mtime > STALE_SECONDS):
                    log.info("removing %s from %s: left by an upload that failed", entry, self.remote)
                    sftp.remove(posixpath.join(self.remote, entry))
        except OSError as e:  # the upload itself says whether the server works
            log.warning("sweeping %s failed: %s", self.remote, type(e).__name__)

    def refused(self) -> dict[str, str]:
        folder = posixpath.join(self.remote, "rejected")
        with session(self.endpoint) as sftp:
            try:
                names = {a.filename for a in listdir(sftp, folder)}
            except FileNotFoundError:
                return {}
            refused = {}
            for name in (n for n in names if n.endswith(".xml") and not name_problem(n)):  # the hub's names are plain
                # The contract only says the file is moved; a reason beside it is a courtesy.
                reason = f"{name} moved to {folder}/ by the destination"
                if f"{name}.reden.txt" in names:
                    with sftp.open(posixpath.join(folder, f"{name}.reden.txt")) as f:
                        reason += ": " + shown(f.read(2000).decode("utf-8", "replace").strip())
                refused[name] = reason
            return refused


def configured(hub, dest, ep, deadline: float) -> SftpTransport:
    return SftpTransport(ep, dest.remote or "inbox")
