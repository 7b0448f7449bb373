"""Receive transports, registered by name (``KINDS``), one module each, as destinations'
transports are (deliver.transports). An adapter names its own in ``receive: transport:``; the
settings every transport shares are fields of ``adapters.Receive``, the rest of its
``receive:`` section configures the transport (``options``). A partner of a kind the hub has
needs no Python.

Each module's function makes a ``Source`` from the partner, its Connection's ``Endpoint`` and
a ``Setup``: what the hub around it provides (a work folder, the schemas, the partner's cursor
in the store), so that no transport reaches into the store or the hub itself."""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection

from ketenhub.receive.base import Cursor

# name -> "module:function" making the Source from (partner, endpoint, setup); imported when
# first used, so that reading adapters imports no transport.
KINDS = {
    "folder": "ketenhub.receive.folder:configured",
    "sftp": "ketenhub.receive.sftp:configured",
    "soap": "ketenhub.receive.soap:configured",
    "rest-json": "ketenhub.receive.rest:configured",
}


@dataclass(frozen=True)
class Setup:
    folder: Path  # the drop folder: the Connection's path, or the adapter's folder under KETENHUB_HOME
    workdir: Path  # where a transport puts what it fetched before the pipeline reads it
    schemas_dir: Path
    cursor: Cursor  # the store's cursor of this partner (polled partners)
    names: Collection[str] | None = None  # a file partner's files to take this run; None: every one ready


def kind(name: str) -> Callable:
    try:
        module, function = KINDS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown receive transport {name!r}; known: {', '.join(sorted(KINDS))}") from None
    return getattr(importlib.import_module(module), function)


def declared_options(partner) -> object:
    """The settings of the partner's own transport (``receive: transport:``, its module's
    ``OPTIONS``), checked whichever transport runs now: an fs Connection makes any partner a drop
    folder, and the command line reads a folder where no Connection is found."""
    spec = None
    if partner.receive.transport in KINDS:
        spec = getattr(importlib.import_module(KINDS[partner.receive.transport].split(":")[0]), "OPTIONS", None)
    return options(spec, partner)


def options(spec: type | None, partner) -> object:
    """A transport's settings from its partner's ``receive:`` section beyond the shared ones, in a
    dataclass of its own (None: it takes none): an unknown or wrong setting is an error naming it."""
    given = dict(partner.receive.options)
    names = {f.name for f in dataclasses.fields(spec)} if spec else set()
    unknown = set(given) - names
    if unknown:
        raise ValueError(f"{partner.partner}: receive: {', '.join(sorted(unknown))} not known to transport "
                         f"{partner.receive.transport} (it takes {', '.join(sorted(names)) or 'no other settings'})")
    try:
        return spec(**given) if spec else None
    except TypeError as e:
        raise ValueError(f"{partner.partner}: receive: {e}") from None
