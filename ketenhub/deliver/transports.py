"""Destination transports. A transport sends one outbound document and says, per item key,
what became of it. It knows nothing of mappings or of the database.

Transports are registered by name (``KINDS``), one module each, and an adapter names its own
in ``deliver: transport:``; the rest of its ``deliver:`` section configures it (``options``).
A new destination of a kind the hub has needs no Python."""
from __future__ import annotations

import dataclasses
import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ketenhub.markers import marker_text
from ketenhub.states import Outcome


# name -> "module:function" making the transport from (hub, destination, endpoint, deadline);
# imported when first used, so that reading adapters imports no transport.
KINDS = {
    "soap": "ketenhub.deliver.soap:configured",
    "http": "ketenhub.deliver.http:configured",
    "sftp": "ketenhub.deliver.sftp:configured",
}


def kind(name: str) -> Callable:
    try:
        module, function = KINDS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown transport {name!r}; known: folder, {', '.join(sorted(KINDS))}") from None
    return getattr(importlib.import_module(module), function)


def declared_options(dest) -> None:
    """The settings of the destination's own transport (``deliver: transport:``, its module's
    ``OPTIONS``), checked whichever transport runs now (a folder where no Connection is found)."""
    spec = None
    if dest.transport in KINDS:
        spec = getattr(importlib.import_module(KINDS[dest.transport].split(":")[0]), "OPTIONS", None)
    options(spec, dest)


def options(spec: type | None, dest) -> object:
    """A transport's configuration from its destination's ``deliver:`` section, in a dataclass
    of its own (None: it takes none): an unknown or missing setting is an error naming it."""
    names = {f.name for f in dataclasses.fields(spec)} if spec else set()
    unknown = set(dest.options) - names
    if unknown:
        raise ValueError(f"{dest.destination}: deliver: {', '.join(sorted(unknown))} not known to transport "
                         f"{dest.transport} (it takes {', '.join(sorted(names)) or 'no other settings'})")
    try:
        return spec(**dest.options) if spec else None
    except TypeError as e:
        raise ValueError(f"{dest.destination}: deliver: {e}") from None


@dataclass(frozen=True)
class ItemResult:
    outcome: str  # delivered, retry, failed
    reason: str | None = None
    retry_after: float | None = None  # seconds, when the destination said when to come back


class Transport(ABC):
    # Whether several documents may be sent at once, from several threads (deliver.run._send_each):
    # a transport that names what it writes by the batch must not
    concurrent: bool = False

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
            marker.write_text(marker_text(document, name), encoding="ascii")
        return {k: ItemResult(Outcome.DELIVERED) for k in keys}


class VersionedTransport(Transport):
    """A destination with several contract versions: a transport per version in use (each at
    its own Connection, or folder); deliver.run sends each version's document through its own."""

    def __init__(self, by_version: dict[str, Transport]):
        self.by_version = by_version
        # Items sent side by side only if every version's transport allows it.
        self.concurrent = all(t.concurrent for t in by_version.values())

    def of(self, version: str) -> Transport:
        try:
            return self.by_version[version]
        except KeyError:
            raise ValueError(f"no transport for version {version}: it is not in use") from None

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        raise TypeError("a versioned destination's document goes through the transport of its version (of)")

    def refused(self) -> dict[str, str]:
        refused = {}
        for t in self.by_version.values():
            refused.update(t.refused())
        return refused
