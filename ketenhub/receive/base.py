from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Incoming:
    """One payload, readable on local disk."""
    name: str
    path: Path
    expected_sha256: str | None = None  # from the transport's completion marker, if it has one


class Source(ABC):
    """Where a partner's payloads come from: a folder now; SFTP and SOAP polling slot in here."""

    @abstractmethod
    def ready(self) -> Iterator[Incoming]:
        """Payloads that are complete and may be read now."""

    @abstractmethod
    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        """Called after the payload is stored (accepted) or refused (with the reason)."""
