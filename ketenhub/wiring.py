"""Which transport carries a partner's or destination's traffic: the contract's transport
(adapter ``transport``) at the endpoint of its Airflow Connection ``ketenhub_<name>``; with
no Connection, or one of type ``fs``, a local folder (the embedded default)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ketenhub.adapters import Destination, Partner
from ketenhub.connections import Endpoint, endpoint
from ketenhub.deliver.transports import FolderTransport, Transport
from ketenhub.hub import Hub


def _folder(hub: Hub, ep: Endpoint | None, default: str) -> Path:
    return Path(ep.extra.get("path")) if ep and ep.extra.get("path") else hub.settings.path(default)


def _timeout(ep: Endpoint) -> float:
    return float(ep.extra.get("timeout", 30))  # seconds per call


def receive(hub: Hub, partner: Partner) -> list:
    """Receive everything that is ready from one partner; returns the pipeline's reports."""
    from ketenhub.pipeline import ingest_source
    from ketenhub.receive.folder import DropFolder

    ep = endpoint(partner.partner)
    r = partner.receive
    if ep is None or ep.conn_type == "fs" or r.transport == "folder":
        return ingest_source(hub, partner, DropFolder(_folder(hub, ep, r.folder), r))
    if r.transport == "sftp":
        from ketenhub.receive.sftp import SftpInbox
        from ketenhub.store.tables import payload

        def already_received(sha256: str) -> bool:
            with hub.engine.connect() as conn:
                return conn.scalar(select(payload.c.id).where(
                    payload.c.partner == partner.partner, payload.c.sha256 == sha256,
                    payload.c.state == "accepted")) is not None

        inbox = SftpInbox(ep, r, hub.settings.path("work") / partner.partner, already_received)
        return ingest_source(hub, partner, inbox)
    if r.transport == "soap":
        from ketenhub.protocols.soap import SoapClient
        from ketenhub.receive.soap import MeldingenPoller

        client = SoapClient(str(hub.settings.schemas_dir / r.wsdl), ep.base_url, partner.oin, _timeout(ep))
        return MeldingenPoller(hub, client).poll().reports
    raise ValueError(f"{partner.partner}: unknown transport {r.transport!r}")


def transport(hub: Hub, dest: Destination) -> Transport:
    ep = endpoint(dest.destination)
    if ep is None or ep.conn_type == "fs" or dest.transport == "folder":
        return FolderTransport(_folder(hub, ep, dest.folder), dest.marker)
    if dest.transport == "soap":
        from ketenhub.deliver.soap import KbspTransport
        from ketenhub.protocols.soap import SoapClient
        return KbspTransport(SoapClient(str(hub.settings.schemas_dir / dest.wsdl), ep.base_url, dest.oin,
                                        _timeout(ep)))
    if dest.transport == "http":
        from ketenhub.deliver.http import DlvTransport
        return DlvTransport(ep.base_url, _timeout(ep), auth=(ep.login, ep.password) if ep.login else None)
    if dest.transport == "sftp":
        from ketenhub.deliver.sftp import SftpTransport
        return SftpTransport(ep, dest.remote or "inbox")
    raise ValueError(f"{dest.destination}: unknown transport {dest.transport!r}")
