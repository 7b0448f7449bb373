"""Which transport carries a partner's or destination's traffic: the contract's transport
(adapter ``transport``) at the endpoint of its Airflow Connection ``ketenhub_<name>``; a
Connection of type ``fs`` names a local folder. Without a Connection the command line uses the
folders under KETENHUB_HOME (the embedded default); a DAG task refuses, so that a missing or
misnamed Connection can never make deliveries look delivered while they sit on a local disk."""
from __future__ import annotations

from pathlib import Path
from typing import Collection

from ketenhub.adapters import Destination, Partner
from ketenhub.connections import Endpoint, endpoint
from ketenhub.deliver import transports as kinds
from ketenhub.clock import now
from ketenhub.deliver.transports import FolderTransport, Transport, VersionedTransport
from ketenhub.hub import Hub


class MissingConnection(Exception):
    pass


def _endpoint(name: str, embedded: bool) -> Endpoint | None:
    ep = endpoint(name)
    if ep is None and not embedded:
        raise MissingConnection(f"no Airflow Connection ketenhub_{name}: add it (Admin > Connections, or "
                                f"AIRFLOW_CONN_KETENHUB_{name.upper()}); type fs with extra path for a local folder")
    return ep


def _folder(hub: Hub, ep: Endpoint | None, default: str) -> Path:
    return Path(ep.extra.get("path")) if ep and ep.extra.get("path") else hub.settings.path(default)


def ready_files(hub: Hub, partner: Partner, embedded: bool = True) -> list[str]:
    """The names of a file partner's complete files (SFTP or folder), for runs that take one
    each (``receive(names=...)``): a night's files are then received side by side."""
    from ketenhub.receive.folder import DropFolder

    ep = _endpoint(partner.partner, embedded)
    r = partner.receive
    if ep is None or ep.conn_type == "fs" or r.transport == "folder":
        return DropFolder(_folder(hub, ep, r.folder), r).ready_names()
    if r.transport == "sftp":
        from ketenhub.receive.sftp import SftpInbox

        return SftpInbox(ep, r, hub.settings.path("work") / partner.partner).ready_names()
    raise ValueError(f"{partner.partner}: {r.transport} has no files to list")


def archives(hub: Hub, embedded: bool = True) -> dict[str, list[Path]]:
    """Per partner that receives from a local drop folder, where a file goes once taken (its
    adapter's ``done``, and ``rejected``): for retention (store.retention.run) to empty, and for
    the privacy report to search."""
    found = {}
    for p in hub.registry.partners.values():
        r = p.receive
        ep = endpoint(p.partner)
        local = (ep.conn_type == "fs" or r.transport == "folder") if ep else embedded  # as receive takes it
        if r.transport != "push" and local:
            folder = _folder(hub, ep, r.folder)
            found[p.partner] = [folder / r.done, folder / r.rejected]
    return found


def receive(hub: Hub, partner: Partner, embedded: bool = True, names: Collection[str] | None = None) -> list:
    """Receive everything that is ready from one partner (of a file partner, only the files
    ``names``, if given); returns the pipeline's reports. The transport is the one its adapter
    names, registered in receive.kinds."""
    from ketenhub.pipeline import ingest_source
    from ketenhub.receive import kinds as receive_kinds
    from ketenhub.store.cursor import ReceiveCursor

    r = partner.receive
    receive_kinds.declared_options(partner)
    if r.transport == "push":  # the partner calls `ketenhub serve`; what it could not store waits in its spool
        from ketenhub.receive.push import Spool

        return ingest_source(hub, partner, Spool(hub.settings.path(r.folder)))
    ep = _endpoint(partner.partner, embedded)
    setup = receive_kinds.Setup(_folder(hub, ep, r.folder), hub.settings.path("work") / partner.partner,
                                hub.settings.schemas_dir, ReceiveCursor(hub.engine, partner.partner), names)
    kind = "folder" if ep is None or ep.conn_type == "fs" else r.transport
    source = receive_kinds.kind(kind)(partner, ep, setup)
    return ingest_source(hub, partner, source)


def transport(hub: Hub, dest: Destination, embedded: bool = True) -> Transport:
    if dest.versions:  # each version in use now at its own Connection: one missing fails the run before any send
        return VersionedTransport({v.version: transport(hub, dest.in_version(v.version), embedded)
                                   for v in dest.versions if v.in_use(now())})
    kinds.declared_options(dest)
    ep = _endpoint(dest.connection or dest.destination, embedded)
    if ep is None or ep.conn_type == "fs" or dest.transport == "folder":
        return FolderTransport(_folder(hub, ep, dest.folder), dest.marker)
    from ketenhub.deliver.run import LEASE
    deadline = min(dest.call_deadline_seconds, LEASE.total_seconds() / 4)  # well inside the batch's lease
    return kinds.kind(dest.transport)(hub, dest, ep, deadline)


def deliver(hub: Hub, dest: Destination, via: Transport | None = None, embedded: bool = True):
    """Deliver what is due to ``dest`` over ``via``, by default its configured transport."""
    from ketenhub.deliver.run import deliver as run
    return run(hub, dest, via or transport(hub, dest, embedded))
