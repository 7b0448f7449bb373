from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

@dataclass(frozen=True)
class Incoming:
    """One payload, readable on local disk."""
    name: str  # the partner's name for it: use this, not path.name
    path: Path  # where to read it; from a drop folder, its open descriptor (/proc/self/fd/N)
    expected_sha256: str | None = None  # from the transport's completion marker, if it has one
    # True: the source wrote these bytes itself by serialising a tree it parsed, so they are
    # well-formed and the scan need not parse them once more to know it
    well_formed: bool = False


@dataclass(frozen=True)
class Refused:
    """Something a source found but will not hand on (a link, a name that is not plain), with why."""
    name: str  # already escaped with ``names.shown``
    rule: str  # file-name, file-type
    reason: str


class Source(ABC):
    """Where a partner's payloads come from: each receive kind (``receive.kinds``) is one."""

    refused: list[Refused] | tuple = ()  # what ``ready`` found and will not hand on
    # True: a payload counts as taken once it is stored, even when every event in it was
    # rejected (each is kept in quarantine with its reason), as a polled feed must move on;
    # False: such a payload is refused as a whole (a drop folder moves it to rejected/).
    per_event: bool = False
    # True: ``ready`` may hand on more payloads before ``done`` is told of the first, each staying
    # readable until then (the pipeline then stores small ones a group at a time)
    grouped: bool = False
    # True: each payload moves the partner's cursor on, so after one that failed to store none is
    # read further in this run (the next would carry the cursor past it)
    ordered: bool = False
    # True: a run hands on page after page of many events each (a polled feed's), for which
    # worker processes are started once a run, before ``ready`` is; it is asked for the next
    # page before ``done`` is told of the one before
    paged: bool = False

    @abstractmethod
    def ready(self) -> Iterator[Incoming]:
        """Payloads that are complete and may be read now."""

    @abstractmethod
    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        """Called after the payload is stored (accepted) or refused (with the reason)."""


class Cursor(Protocol):
    """How far a polled partner has been read (the store keeps it: see store.cursor)."""

    def position(self) -> int: ...

    def advance(self, position: int) -> None: ...
