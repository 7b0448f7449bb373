"""A partner that calls the hub (CJIB's LeverSlachtofferinformatie): the checks on a whole call
before anything of it is stored, and the spool the hub's service leaves a call in when it could
not store it.

A call is refused whole (``CallRefused``, a soap:Client Fault naming the reason) when it is not a
well-formed SOAP envelope, its signature does not verify or does not cover what the profile
says, its signing certificate or wsa:From carries another OIN than the TLS client certificate,
that OIN is not the partner's, its Timestamp is missing, stale or expired, wsa:To does not carry
the hub's OIN, wsa:Action is not the operation's, or its body does not hold 1 to ``max_events``
events. Every event of a call that passes is then checked on its own by the hub's intake.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography import x509
from lxml import etree

from ketenhub.adapters import Partner
from ketenhub.protocols import wssecurity
from ketenhub.protocols.wssecurity import SecurityRefused, oin_in_address, oin_of
from ketenhub.receive.base import Incoming, Source
from ketenhub.xml.parsing import check_dtd, parse_trusted, parser

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"


class CallRefused(Exception):
    """The whole call is refused (soap:Client); ``reason`` in plain words, without any value from
    the payload."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def soap_action(wsdl: Path, operation: str) -> str:
    """The operation's SOAPAction, as the partner's WSDL gives it."""
    tree = parse_trusted(wsdl)
    found = tree.xpath("//w:binding/w:operation[@name = $op]/s:operation/@soapAction",
                       namespaces={"w": WSDL, "s": WSDL_SOAP}, op=operation)
    if not found:
        raise ValueError(f"{wsdl.name} has no operation {operation} with a soapAction")
    return str(found[0])


@dataclass(frozen=True)
class Call:
    message: wssecurity.Verified
    request: etree._Element  # the body's request element, the payload to store


def _parse(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as e:
        raise CallRefused(f"the message is not well-formed XML (line {e.lineno})") from None
    if check_dtd(root):
        raise CallRefused("the message declares a DTD (<!DOCTYPE>), which the hub refuses")
    return root


def check_call(data: bytes, client_cert: x509.Certificate | None, soap_action_header: str | None,
               partner: Partner, hub_oin: str, action: str, cas: list[x509.Certificate],
               at: datetime.datetime) -> Call:
    """Everything about the call as a whole, in the contract's order; raises CallRefused."""
    root = _parse(data)
    tls_oin = oin_of(client_cert) if client_cert is not None else None
    if tls_oin is None:
        raise CallRefused("the TLS client certificate carries no OIN in its subject serialNumber")
    try:
        message = wssecurity.verify(root, cas, at)
    except SecurityRefused as e:
        raise CallRefused(e.reason) from None
    sender = oin_in_address(message.sender)
    if sender is None:
        raise CallRefused("wsa:From has no address with an OIN (…?OIN=…)")
    if sender != tls_oin:
        raise CallRefused(f"the OIN in wsa:From ({sender}) differs from the OIN of the TLS client certificate "
                          f"({tls_oin})")
    if sender != partner.oin:
        raise CallRefused(f"the OIN in wsa:From ({sender}) is not {partner.name}'s ({partner.oin})")
    signer = oin_of(message.signer)
    if signer != tls_oin:
        raise CallRefused(f"the signing certificate carries another OIN ({signer}) than the TLS client certificate "
                          f"({tls_oin})")
    try:
        wssecurity.check_timestamp(message, at, partner.receive.timestamp_window_seconds)
    except SecurityRefused as e:
        raise CallRefused(e.reason) from None
    if oin_in_address(message.to) != hub_oin:
        raise CallRefused(f"wsa:To does not carry the hub's OIN ({hub_oin})")
    if message.action != action:
        raise CallRefused(f"wsa:Action is not {action}")
    if soap_action_header is not None and soap_action_header.strip().strip('"') not in ("", action):
        raise CallRefused("the SOAPAction header differs from wsa:Action")
    children = [el for el in message.body if isinstance(el.tag, str)]
    root_tag = partner.batch_root
    if len(children) != 1 or children[0].tag != root_tag:
        raise CallRefused(f"the soap:Body must hold one {etree.QName(root_tag).localname}")
    request = children[0]
    events = sum(1 for el in request if el.tag == partner.event)
    most = partner.receive.max_events
    if not 1 <= events <= most:
        raise CallRefused(f"the body holds {events} {etree.QName(partner.event).localname} elements; "
                          f"a call holds 1 to {most}")
    return Call(message, request)


class Spool(Source):
    """Calls the service kept but could not store (its store was down): the receiving DAG takes
    them up. Each file is removed once stored: its bytes are kept under payloads/ by SHA-256."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def ready(self) -> Iterator[Incoming]:
        if not self.folder.is_dir():
            return
        for name in sorted(os.listdir(self.folder)):
            if name.endswith(".xml") and (self.folder / name).is_file() and not (self.folder / name).is_symlink():
                yield Incoming(name, self.folder / name)

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        item.path.unlink(missing_ok=True)
