from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from ketenhub.adapters import Partner
    from ketenhub.hub import Hub

MAX_NAME_BYTES = 240  # a file system's 255 less room for the .error.txt or .sha256 beside it
# Control characters (terminal escape sequences), format characters (bidi overrides), lone
# surrogates (bytes that are not UTF-8), line separators and unassigned code points.
_UNSAFE = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp", "Cn"))


def shown(name: str) -> str:
    """A partner's file name as it may be printed, logged or written: every character that a
    terminal or log reader would act on is escaped as Python writes it (``\\x1b``, ``\\u202e``);
    a backslash is doubled, so the escaped form is unambiguous."""
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if c == "\\" or unicodedata.category(c) in _UNSAFE else c for c in name)


def name_problem(name: str) -> str | None:
    """Why a name given by a partner is not a plain file name, or None. The hub uses a name as
    one path component only: no separators, no '..', nothing a terminal would act on."""
    if not name or "/" in name or "\\" in name or ".." in name or "\0" in name:
        return "is not a plain file name (it holds a path separator or '..')"
    if shown(name) != name:
        return "holds control or invisible characters, or bytes that are not UTF-8"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None


@dataclass(frozen=True)
class Incoming:
    """One payload, readable on local disk."""
    name: str  # the partner's name for it: use this, not path.name
    path: Path  # where to read it; from a drop folder, its open descriptor (/proc/self/fd/N)
    expected_sha256: str | None = None  # from the transport's completion marker, if it has one


@dataclass(frozen=True)
class Refused:
    """Something a source found but will not hand on (a link, a name that is not plain), with why."""
    name: str  # already escaped with ``shown``
    rule: str  # file-name, file-type
    reason: str


class Source(ABC):
    """Where a partner's payloads come from: a folder now; SFTP and SOAP polling slot in here."""

    refused: list[Refused]  # filled while ``ready`` runs

    @abstractmethod
    def ready(self) -> Iterator[Incoming]:
        """Payloads that are complete and may be read now."""

    @abstractmethod
    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        """Called after the payload is stored (accepted) or refused (with the reason)."""


def receive_all(hub: Hub, partner: Partner, source: Source) -> list:
    """The pipeline's report for every ready payload, then a rejected one for everything the
    source refused to hand on, so that it counts and shows like any other refused file."""
    from ketenhub.pipeline import Report, ingest_source
    from ketenhub.validate.problems import Problem

    reports = ingest_source(hub, partner, source)
    return reports + [Report(partner.partner, r.name, "rejected", problems=[Problem(r.rule, r.reason)])
                      for r in getattr(source, "refused", ())]
