"""The OM's SFTP outbox: only files whose .sha256 marker exists, downloaded to local disk as a
stream, checked against the marker (a broken transfer is downloaded again from scratch, never
handed on half), and afterwards moved with their marker to archive/ on the server (rejected
ones to rejected/, with <name>.error.txt). A file whose content the hub already has is
recognised by the pipeline and archived without being processed again.

A listed name is taken only when it matches the adapter's pattern and is a plain name (see
``name_problem``) of a regular file: a name such as ``../x`` or one with control characters
is reported (escaped) and skipped, and the other files go on. So does a file whose download
keeps failing: the run fails at its end, after the others are in."""
from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import posixpath
import stat
from pathlib import Path
from typing import Collection, Iterator

from ketenhub.adapters import Receive
from ketenhub.connections import Endpoint
from ketenhub.markers import read_marker
from ketenhub.names import name_problem, shown
from ketenhub.protocols.sftp import HostKeyError, listdir, session
from ketenhub.receive.base import Incoming, Refused, Source
from ketenhub.receive.folder import SKIP_SUFFIXES
from ketenhub.retry import with_retries

log = logging.getLogger(__name__)


class _Broken(Exception):
    """A download that broke off, or whose content does not match its marker: tried again."""


class DownloadFailed(Exception):
    pass


class SftpInbox(Source):
    def __init__(self, endpoint: Endpoint, receive: Receive, workdir: Path, attempts: int = 3, backoff: float = 1.0,
                 names: Collection[str] | None = None):
        self.endpoint, self.receive, self.workdir = endpoint, receive, Path(workdir)
        self.names = None if names is None else set(names)  # only these files, when a run takes one each
        self.attempts, self.backoff = attempts, backoff
        base = endpoint.extra.get("path") or ""
        self.remote = posixpath.join(base, receive.remote or "outbox")
        self.archive = posixpath.join(base, receive.archive)
        self.rejected = posixpath.join(base, receive.rejected)
        self.refused = []

    def _ready_names(self) -> list[tuple[str, str]]:
        with session(self.endpoint) as sftp:
            entries = {a.filename: a for a in listdir(sftp, self.remote)}
            ready = []
            for name in sorted(entries):
                if name.endswith(SKIP_SUFFIXES) or not fnmatch.fnmatch(name, self.receive.pattern):
                    continue
                if self.names is not None and name not in self.names:
                    continue
                problem = name_problem(name)
                if problem:
                    self._refuse(name, "file-name", f"the name {problem}")
                    continue
                if not _regular(entries[name]):
                    self._refuse(name, "file-type", "the entry is not a regular file")
                    continue
                marker = entries.get(f"{name}.sha256")
                if marker is None:
                    continue  # the upload is still running
                try:
                    if not _regular(marker):
                        raise OSError("the marker is not a regular file")
                    with sftp.open(posixpath.join(self.remote, f"{name}.sha256")) as f:
                        expected = read_marker(f.read(1024).decode("ascii", "replace")) or "unreadable marker"
                except OSError as e:  # the others go on; this one is looked at again next run
                    log.warning("marker of %s not read (%s): skipped", name, shown(str(e)))
                    continue
                ready.append((name, expected))
            return ready

    def ready_names(self) -> list[str]:
        """The complete files' names, nothing downloaded: for a run that hands each to a task of its own."""
        return [name for name, _ in self._ready_names()]

    def _refuse(self, name: str, rule: str, reason: str) -> None:
        """Reported and left on the server: a name that is not plain cannot be moved safely."""
        log.warning("%s in the SFTP folder %s refused: %s", shown(name), self.remote, reason)
        self.refused.append(Refused(shown(name), rule, reason))

    def _download(self, name: str, expected: str) -> Path:
        """Stream the file to local disk; a broken transfer or a content that does not match the
        marker is downloaded again from scratch. No half file is ever handed on."""
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)  # the partner's files hold personal data
        local, part = self.workdir / name, self.workdir / f"{name}.part"

        def attempt(last: bool) -> Path:
            digest = hashlib.sha256()
            try:
                with session(self.endpoint) as sftp, _private(part) as f, \
                        sftp.open(posixpath.join(self.remote, name), "rb") as remote:
                    remote.prefetch()
                    while chunk := remote.read(1 << 20):
                        f.write(chunk)
                        digest.update(chunk)
            except HostKeyError:
                raise
            except Exception as e:  # paramiko raises SSHException, EOFError, socket errors
                part.unlink(missing_ok=True)
                raise _Broken(type(e).__name__) from None
            if digest.hexdigest() != expected and not last:
                raise _Broken("content does not match its marker")
            # Whole (and, after every attempt, still not matching: the file itself is wrong; the
            # pipeline rejects it for its marker and keeps the bytes).
            part.replace(local)
            return local

        try:
            return with_retries(attempt, (_Broken,), self.attempts, self.backoff, f"download of {shown(name)}")
        except _Broken as e:
            raise DownloadFailed(f"{shown(name)}: download failed {self.attempts} times ({e})") from None

    def ready(self) -> Iterator[Incoming]:
        self.refused = []
        failed = []
        for name, expected in self._ready_names():
            try:
                path = self._download(name, expected)
            except DownloadFailed as e:  # the files after it still go in
                log.error("%s", e)
                failed.append(e)
                continue
            yield Incoming(name, path, expected)
        if failed:
            raise failed[0]

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        with session(self.endpoint) as sftp:
            folder = self.archive if accepted else self.rejected
            try:
                sftp.mkdir(folder)  # the contract names archive/ only; make what is missing
            except OSError:
                pass
            if not accepted:
                with sftp.open(posixpath.join(self.rejected, f"{item.name}.error.txt"), "w") as f:
                    f.write(report + "\n")
            self._move(sftp, item.name, folder)
        item.path.unlink(missing_ok=True)  # the hub's own copy is under payloads/

    def _move(self, sftp, name: str, folder: str) -> None:
        for n in (name, f"{name}.sha256"):
            sftp.posix_rename(posixpath.join(self.remote, n), posixpath.join(folder, n))


def _regular(attr) -> bool:
    """A server that says nothing of the entry's type is taken at its word."""
    return attr.st_mode is None or stat.S_ISREG(attr.st_mode)


def _private(path: Path):
    """``open(path, "wb")``, readable by the hub's user only, also if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def configured(partner, endpoint: Endpoint, setup) -> SftpInbox:
    """The partner's SFTP outbox at its Connection (receive.kinds)."""
    from ketenhub.receive.kinds import options

    options(None, partner)
    return SftpInbox(endpoint, partner.receive, setup.workdir, names=setup.names)
