"""Destination transports. A transport sends one outbound document and says, per item key,
what became of it. It knows nothing of mappings or of the database."""
from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ItemResult:
    outcome: str  # delivered, retry, failed
    reason: str | None = None
    retry_after: float | None = None  # seconds, when the destination said when to come back


class Transport(ABC):
    @abstractmethod
    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        """Send one document holding the items with these keys. Raising means: nothing was
        delivered, try the whole document again later."""

    def refused(self) -> dict[str, str]:
        """Documents the destination refused after accepting them (name: reason), for a
        destination that says so later, as CJIB does by moving a file to inbox/rejected/."""
        return {}


class FolderTransport(Transport):
    """Writes each document into a folder as <name>.part, renames it to <name> when complete,
    then writes the <name>.sha256 marker if the destination wants one. Writing the same name
    again replaces the file, so a batch resent after a crash is not delivered twice."""

    def __init__(self, folder: Path, marker: str | None = None):
        self.folder = Path(folder)
        self.marker = marker

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / name
        part = final.with_name(name + ".part")
        with open(part, "wb") as f:
            f.write(document)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, final)
        if self.marker == "sha256":
            marker = final.with_name(name + ".sha256")
            marker.write_text(f"{hashlib.sha256(document).hexdigest()}  {name}\n", encoding="ascii")
        return {k: ItemResult("delivered") for k in keys}
