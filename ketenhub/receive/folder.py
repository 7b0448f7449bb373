"""Local files and drop folders.

A drop folder follows its partner's rules (from the adapter's ``receive`` section): only
names matching the pattern, never a ``.part`` file (still being written), with ``marker:
sha256`` only files whose ``<name>.sha256`` exists; afterwards the file (and marker) moves to
the ``done`` folder, or to ``rejected/`` with ``<name>.error.txt`` saying why.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable, Iterator

from ketenhub.adapters import Receive
from ketenhub.receive.base import Incoming, Source
from ketenhub.validate.payload import read_marker

SKIP_SUFFIXES = (".part", ".sha256", ".error.txt")


def _marker_of(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _expected(path: Path, marker_kind: str | None) -> str | None:
    marker = _marker_of(path)
    if marker_kind and marker.exists():
        # An unreadable marker yields a digest that cannot match: the file is rejected for it.
        return read_marker(marker.read_text(errors="replace")) or "unreadable marker"
    return None


class Files(Source):
    """Files named explicitly (the CLI): their marker is checked when present; they stay put."""

    def __init__(self, paths: Iterable[Path], receive: Receive):
        self.paths = [Path(p) for p in paths]
        self.receive = receive

    def ready(self) -> Iterator[Incoming]:
        for path in self.paths:
            yield Incoming(path.name, path, _expected(path, self.receive.marker))

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        pass


class DropFolder(Source):
    def __init__(self, folder: Path, receive: Receive):
        self.folder = Path(folder)
        self.receive = receive

    def ready(self) -> Iterator[Incoming]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(self.receive.pattern)):
            if not path.is_file() or path.name.endswith(SKIP_SUFFIXES):
                continue
            if self.receive.marker and not _marker_of(path).exists():
                continue  # upload still running
            yield Incoming(path.name, path, _expected(path, self.receive.marker))

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        target = self.folder / (self.receive.done if accepted else self.receive.rejected)
        target.mkdir(exist_ok=True)
        name = _free_name(target, item.name)
        if not accepted:
            (target / f"{name}.error.txt").write_text(report + "\n", encoding="utf-8")
        marker = _marker_of(item.path)
        shutil.move(item.path, target / name)
        if marker.exists():
            shutil.move(marker, target / f"{name}.sha256")


def _free_name(folder: Path, name: str) -> str:
    """The same name may arrive twice (a resend); never overwrite what is already there."""
    candidate, n = name, 1
    while (folder / candidate).exists():
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem}.{n}.{ext}" if dot else f"{name}.{n}"
        n += 1
    return candidate
