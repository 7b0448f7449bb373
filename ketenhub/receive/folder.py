"""Local files and drop folders.

A drop folder follows its partner's rules (from the adapter's ``receive`` section): only
names matching the pattern, never a ``.part`` file (still being written), with ``marker:
sha256`` only files whose ``<name>.sha256`` exists; afterwards the file (and marker) moves to
the ``done`` folder, or to ``rejected/`` with ``<name>.error.txt`` saying why.

A drop folder never follows a link. An entry that is a symbolic link, a file with other names
(a hard link), anything but a regular file, or one whose name is not plain (see
``name_problem``) is refused without being read: it moves to ``rejected/`` with its reason, as
a refused file does. A file is opened once, without following links, and checked on the open
descriptor; the pipeline reads it through that descriptor, so the name cannot be pointed
elsewhere between the check and the read. What the hub moves out of the folder is private to
it: ``processed/`` and ``rejected/`` are 0700, the files in them 0600.
"""
from __future__ import annotations

import errno
import fnmatch
import logging
import os
import stat
from pathlib import Path
from typing import Collection, Iterable, Iterator

from ketenhub.adapters import Receive
from ketenhub.markers import read_marker
from ketenhub.names import name_problem, shown
from ketenhub.receive.base import Incoming, Refused, Source

log = logging.getLogger(__name__)
SKIP_SUFFIXES = (".part", ".sha256", ".error.txt")
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO must not hang the open
# An open file read again by name: the same file, whatever its name points to meanwhile.
_FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"


class NotPlainFile(Exception):
    def __init__(self, rule: str, reason: str):
        super().__init__(reason)
        self.rule, self.reason = rule, reason


class DropFolderError(Exception):
    pass


def _marker_of(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _expected(path: Path, marker_kind: str | None) -> str | None:
    marker = _marker_of(path)
    if marker_kind and marker.exists():
        # An unreadable marker yields a digest that cannot match: the file is rejected for it.
        return read_marker(marker.read_text(errors="replace")) or "unreadable marker"
    return None


def _check(st: os.stat_result, what: str = "the entry") -> None:
    if stat.S_ISLNK(st.st_mode):
        raise NotPlainFile("file-type", f"{what} is a symbolic link: the hub does not follow links")
    if not stat.S_ISREG(st.st_mode):
        raise NotPlainFile("file-type", f"{what} is not a regular file")
    if st.st_nlink != 1:
        raise NotPlainFile("file-type", f"{what} is a hard link (the file has {st.st_nlink} names): "
                                        "the hub takes only files of their own")


def open_regular(path: Path, what: str = "the entry") -> int:
    """A descriptor on ``path``, which must be a regular file of its own. Never follows a link,
    and never opens anything else: a FIFO would block, a device could act on being opened."""
    _check(os.lstat(path), what)
    try:
        fd = os.open(path, _OPEN)
    except OSError as e:
        if e.errno == errno.ELOOP:  # made a link since the lstat
            raise NotPlainFile("file-type", f"{what} is a symbolic link: the hub does not follow links") from None
        raise
    try:
        _check(os.fstat(fd), what)  # what was opened, whatever the name pointed to at the lstat
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_marker(marker: Path) -> str:
    fd = open_regular(marker, "its .sha256 marker")
    with os.fdopen(fd, "rb") as f:
        return read_marker(f.read(1024).decode("ascii", "replace")) or "unreadable marker"


class Files(Source):
    """Files named explicitly (the CLI): their marker is checked when present; they stay put."""

    def __init__(self, paths: Iterable[Path], receive: Receive):
        self.paths = [Path(p) for p in paths]
        self.receive = receive
        self.refused = []

    def ready(self) -> Iterator[Incoming]:
        for path in self.paths:
            problem = name_problem(path.name)
            if problem:
                log.warning("%s: refused, the name %s", shown(path.name), problem)
                self.refused.append(Refused(shown(path.name), "file-name", f"the name {problem}"))
                continue
            yield Incoming(path.name, path, _expected(path, self.receive.marker))

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        pass


class DropFolder(Source):
    grouped = True  # a file handed on stays open, and so readable and checkable, until done()

    def __init__(self, folder: Path, receive: Receive, names: Collection[str] | None = None):
        self.folder = Path(folder)
        self.receive = receive
        self.names = None if names is None else set(names)  # a run that takes some of a night's files
        self.refused = []
        self._open: dict[str, int] = {}  # name -> descriptor of the file handed on under it, until done()
        self._targets: dict[str, int] = {}  # processed/ and rejected/, opened once a run (see _subfolder)

    def ready_names(self) -> list[str]:
        """The names of the complete files, none opened: for runs that take one each."""
        return list(self._complete())

    def _complete(self) -> Iterator[str]:
        if not self.folder.is_dir():
            return
        for name in sorted(os.listdir(self.folder)):
            if name.endswith(SKIP_SUFFIXES) or not fnmatch.fnmatch(name, self.receive.pattern):
                continue
            if self.names is not None and name not in self.names:
                continue  # left, unopened, for its own run
            if self.receive.marker and not os.path.lexists(_marker_of(self.folder / name)):
                continue  # upload still running
            yield name

    def ready(self) -> Iterator[Incoming]:
        for name in self._complete():
            path = self.folder / name
            fd = None
            try:
                problem = name_problem(name)
                if problem:
                    raise NotPlainFile("file-name", f"the name {problem}")
                fd = open_regular(path)
                expected = _read_marker(_marker_of(path)) if self.receive.marker else None
            except NotPlainFile as refusal:
                if fd is not None:
                    os.close(fd)
                self._refuse(name, refusal)
                continue
            except OSError as e:  # gone meanwhile, or not readable (yet): the next run looks again
                if fd is not None:
                    os.close(fd)
                if not isinstance(e, FileNotFoundError):
                    log.warning("%s in drop folder %s not read: %s", shown(name), self.folder, e.strerror)
                continue
            self._open[name] = fd
            yield Incoming(name, Path(_FD_DIR, str(fd)), expected)

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        fd = self._open.pop(item.name, None)
        if fd is not None:
            try:
                read = os.fstat(fd)
                try:
                    now = os.lstat(self.folder / item.name)
                except FileNotFoundError:
                    now = None
                if now is None or (now.st_dev, now.st_ino) != (read.st_dev, read.st_ino):
                    log.warning("%s in %s changed while it was read: left in place", shown(item.name), self.folder)
                    return
                _private(fd, 0o600)
            finally:
                os.close(fd)
        self._move(item.name, accepted, None if accepted else report)

    def __del__(self) -> None:
        for fd in [*self._open.values(), *self._targets.values()]:  # handed on but never done: its payload failed
            os.close(fd)
        self._open.clear()
        self._targets.clear()

    def _refuse(self, name: str, refusal: NotPlainFile) -> None:
        log.warning("%s in drop folder %s refused: %s", shown(name), self.folder, refusal.reason)
        self.refused.append(Refused(shown(name), refusal.rule, refusal.reason))
        self._move(name, False, f"{shown(name)}: rejected\n  {refusal.reason} (rule: {refusal.rule})")

    def _move(self, name: str, accepted: bool, report: str | None) -> None:
        """Move the entry (never what it points to) and its marker; a file name the hub makes is
        always the escaped one, so nothing it writes carries control characters."""
        target = self._subfolder(self.receive.done if accepted else self.receive.rejected)
        new = _free_name(target, shown(name))
        if report is not None:  # written before the file moves: a report alone is a move cut short (_free_name)
            error = os.open(f"{new}.error.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                            0o600, dir_fd=target)
            with os.fdopen(error, "w", encoding="utf-8") as f:
                f.write(report + "\n")
        os.rename(self.folder / name, new, dst_dir_fd=target)
        marker = _marker_of(self.folder / name)
        if os.path.lexists(marker):
            try:
                _private(open_regular(marker, "the marker"), 0o600, close=True)
            except (NotPlainFile, OSError):
                pass  # moved as it is: never read, never followed
            os.rename(marker, f"{new}.sha256", dst_dir_fd=target)

    def _subfolder(self, name: str) -> int:
        """A descriptor on processed/ or rejected/, made 0700 if missing, kept for the run (this
        source's life): a drop folder of thousands of files opened it once a file. It must be a
        folder of its own: the hub moves nothing into a link to somewhere else."""
        if name in self._targets:
            return self._targets[name]
        path = self.folder / name
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # ELOOP or ENOTDIR
            raise DropFolderError(f"{path} is not a folder of its own (a link or a file): "
                                  "the hub moves nothing there") from None
        _private(fd, 0o700)
        self._targets[name] = fd
        return fd


def _private(fd: int, mode: int, close: bool = False) -> None:
    try:
        os.fchmod(fd, mode)
    except PermissionError:
        pass  # a file or folder the partner's account owns keeps the mode that account gave it
    finally:
        if close:
            os.close(fd)


def _mode(name: str, folder: int) -> int | None:
    """The mode of ``folder``'s entry ``name`` (a link's own), or None where there is none."""
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None


def _free_name(folder: int, name: str) -> str:
    """The same name may arrive twice (a resend); never overwrite what is already there, but a
    report (a regular file) without its file: the run that wrote it was stopped before it moved
    the file, which is now being moved again."""
    def taken(candidate: str) -> bool:
        if _mode(candidate, folder) is not None or _mode(f"{candidate}.sha256", folder) is not None:
            return True
        report = _mode(f"{candidate}.error.txt", folder)
        return report is not None and not stat.S_ISREG(report)

    candidate, n = name, 1
    while taken(candidate):
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem}.{n}.{ext}" if dot else f"{name}.{n}"
        n += 1
    return candidate


def configured(partner, endpoint, setup) -> DropFolder:
    """The drop folder (receive.kinds): the Connection's path, or the adapter's folder."""
    return DropFolder(setup.folder, partner.receive, setup.names)
