"""CJIB as the client of the hub's LeverSlachtofferinformatie service: it signs its calls as the
WUS profile 2W-be-S says (its own certificate over two-way TLS, an RSA signing certificate with
its OIN) and checks the hub's signed answer: the signature, wsa:RelatesTo, wsa:Action and the
SignatureConfirmation of its own signature.

It misbehaves on request (``misbehave``), one way at a time:
- ``bad-signature``: the body is changed after signing;
- ``signature-over-too-little``: the signature leaves out wsa:To;
- ``unsigned``: no signature at all;
- ``other-oin-certificate``: signed with the certificate of another organisation (KbSP's);
- ``other-oin-tls``: the TLS client certificate is another organisation's;
- ``stale-timestamp``: Created ten minutes ago; ``future-timestamp``: ten minutes ahead;
- ``expired``: Expires has passed; ``no-timestamp``: no wsu:Timestamp;
- ``wrong-to``: wsa:To carries KbSP's OIN instead of the hub's; ``wrong-action``: another wsa:Action;
- ``wrong-from``: wsa:From names the OM's OIN.
A replayed call is ``replay(answer)``: the same bytes again. ``events(n)`` makes n valid events.
"""
from __future__ import annotations

import datetime
import itertools
import logging
import time
from dataclasses import dataclass

import requests
from lxml import etree

from ketenhub.protocols import wssecurity
from ketenhub.protocols.wssecurity import SOAP, Credentials, SecurityRefused
from ketenhub.settings import HUB_OIN, PROJECT_DIR
from ketenhub.simulators.tls import Pki
from ketenhub.xml.parsing import parser

CJIB_OIN = "00000099000000030000"
KBSP_OIN = "00000099000000040000"
OM_OIN = "00000099000000020000"
NS = "urn:keten:cjib:slachtofferinformatie:v1"
ACTION = "urn:keten:cjib:slachtofferinformatieontvangstservice:v1:LeverSlachtofferinformatie"
PATH = "/ketenhub/cjib/slachtofferinformatie/v1"
log = logging.getLogger(__name__)
MISBEHAVIOURS = ("bad-signature", "signature-over-too-little", "unsigned", "other-oin-certificate", "other-oin-tls",
                 "stale-timestamp", "future-timestamp", "expired", "no-timestamp", "wrong-to", "wrong-action",
                 "wrong-from")


class Fault(Exception):
    def __init__(self, status: int, code: str, reason: str):
        super().__init__(f"HTTP {status}, {code}: {reason}")
        self.status, self.code, self.reason = status, code, reason


@dataclass(frozen=True)
class Answer:
    results: list[tuple[str, str, str | None]]  # (BerichtId, Code, Reden) in the request's order
    request: bytes  # what was sent, for ``replay``
    message: wssecurity.Verified  # the hub's answer, verified


_serial = itertools.count(1)


def event(bericht_id: str, soort: str = "VONNIS_ONHERROEPELIJK", victims: str | None = None, extra: str = "",
          parket: str = "05/123456-26") -> str:
    """One Slachtofferinformatie; ``victims`` replaces the default informed victim."""
    victims = victims or ("<Slachtoffer><Bsn>628194821</Bsn><Naam>A. de Vries</Naam>"
                          "<Informatiewens>true</Informatiewens></Slachtoffer>")
    return (f"<Slachtofferinformatie><BerichtId>{bericht_id}</BerichtId><Parketnummer>{parket}</Parketnummer>"
            f"<Soort>{soort}</Soort><Tijdstip>2027-02-18T07:10:00+01:00</Tijdstip><Datum>2027-02-17</Datum>"
            "<Veroordeelde><Bsn>805888718</Bsn><Naam>R. Hendriks</Naam><Geboortedatum>1991-06-02</Geboortedatum>"
            "<Verblijfadres><Straat>Stationsweg</Straat><Huisnummer>8</Huisnummer><Postcode>7201 DN</Postcode>"
            f"<Woonplaats>Zutphen</Woonplaats></Verblijfadres></Veroordeelde>{victims}{extra}"
            "</Slachtofferinformatie>")


def request(events: list[str]) -> bytes:
    return (f'<LeverSlachtofferinformatieVerzoek xmlns="{NS}">' + "".join(events)
            + "</LeverSlachtofferinformatieVerzoek>").encode()


def events(n: int, prefix: str = "CJIB-SIM") -> list[str]:
    return [event(f"{prefix}-{next(_serial):06d}") for _ in range(n)]


class CjibClient:
    def __init__(self, url: str, pki: Pki, oin: str = CJIB_OIN, timeout: float = 30):
        self.url, self.pki, self.oin, self.timeout = url.rstrip("/"), pki, oin, timeout
        self.http = requests.Session()
        self.http.trust_env = False

    def _credentials(self, oin: str) -> Credentials:
        cert, key = self.pki.signing(oin)
        return Credentials.from_pem(cert.read_bytes(), key.read_bytes())

    def envelope(self, body: bytes, misbehave: str | None = None) -> bytes:
        """A signed call holding ``body`` (a LeverSlachtofferinformatieVerzoek document)."""
        if misbehave and misbehave not in MISBEHAVIOURS:
            raise ValueError(f"unknown misbehaviour {misbehave}; known: {', '.join(MISBEHAVIOURS)}")
        now = datetime.datetime.now(datetime.timezone.utc)
        created = {"stale-timestamp": now - datetime.timedelta(minutes=10),
                   "future-timestamp": now + datetime.timedelta(minutes=10),
                   "expired": now - datetime.timedelta(minutes=2)}.get(misbehave, now)
        to_oin = KBSP_OIN if misbehave == "wrong-to" else HUB_OIN
        from_oin = OM_OIN if misbehave == "wrong-from" else self.oin
        action = ACTION + "Anders" if misbehave == "wrong-action" else ACTION
        root = wssecurity.envelope(etree.fromstring(body, parser()), action,
                                   to=f"{self.url}?OIN={to_oin}", sender=f"https://cjib.example/si?OIN={from_oin}",
                                   created=created, ttl_seconds=60 if misbehave == "expired" else 300)
        if misbehave == "no-timestamp":
            timestamp = root.find(f".//{{{wssecurity.WSU}}}Timestamp")
            timestamp.getparent().remove(timestamp)
        if misbehave == "unsigned":
            return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        signer = self._credentials(KBSP_OIN if misbehave == "other-oin-certificate" else self.oin)
        data = wssecurity.sign(root, signer, leave_out=("id-to",) if misbehave == "signature-over-too-little" else ())
        if misbehave == "bad-signature":  # a value changed after signing: the Body's digest no longer matches
            signed = etree.fromstring(data, parser())
            first = signed.find(f".//{{{NS}}}BerichtId")
            first.text += "-CHANGED"
            data = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
        return data

    def send(self, data: bytes, tls_oin: str | None = None) -> tuple[int, bytes]:
        cert, key = self.pki.client(tls_oin or self.oin)
        response = self.http.post(f"{self.url}", data=data, timeout=self.timeout, allow_redirects=False,
                                  headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ACTION}"'},
                                  cert=(str(cert), str(key)), verify=str(self.pki.ca_file))
        return response.status_code, response.content

    def call(self, body: bytes, misbehave: str | None = None) -> Answer:
        """Sends one call; returns the verified per-event results, or raises Fault."""
        data = self.envelope(body, misbehave)
        return self.answer(data, *self.send(data, KBSP_OIN if misbehave == "other-oin-tls" else None))

    def replay(self, answer: Answer) -> Answer:
        return self.answer(answer.request, *self.send(answer.request))

    def answer(self, sent: bytes, status: int, content: bytes) -> Answer:
        root = etree.fromstring(content, parser())
        fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
        if fault is not None:
            raise Fault(status, fault.findtext("faultcode", ""), fault.findtext("faultstring", ""))
        request_root = etree.fromstring(sent, parser())
        ours = wssecurity.NS
        message = wssecurity.verify(root, [self.pki.ca_cert])
        if wssecurity.oin_of(message.signer) != HUB_OIN:
            raise SecurityRefused("the answer is not signed with the hub's certificate")
        if message.relates_to != request_root.findtext("soap:Header/wsa:MessageID", namespaces=ours):
            raise SecurityRefused("the answer's wsa:RelatesTo is not our MessageID")
        if message.action != ACTION + "Response":
            raise SecurityRefused("the answer's wsa:Action is not the operation's Response")
        ours_value = "".join(request_root.findtext("soap:Header/wsse:Security/ds:Signature/ds:SignatureValue",
                                                   namespaces=ours).split())
        if message.confirmation != ours_value:
            raise SecurityRefused("the answer's SignatureConfirmation does not hold our SignatureValue")
        results = [(r.findtext(f"{{{NS}}}BerichtId"), r.findtext(f"{{{NS}}}Code"), r.findtext(f"{{{NS}}}Reden"))
                   for r in message.body.iterfind(f"{{{NS}}}LeverSlachtofferinformatieAntwoord/{{{NS}}}Resultaat")]
        return Answer(results, sent, message)


def connection_extra(pki: Pki) -> dict:
    """``ketenhub_serve``'s extra for a hub served with this test CA: its server certificate and
    key, the CA, and its RSA signing certificate and key."""
    cert, key = pki.issue(f"server-{HUB_OIN}", HUB_OIN, server=True)
    signing_cert, signing_key = pki.signing(HUB_OIN)
    return {"cert_pem": cert.read_text(), "key_pem": key.read_text(), "ca_pem": pki.ca_pem,
            "signing_cert_pem": signing_cert.read_text(), "signing_key_pem": signing_key.read_text()}



def demo(client: CjibClient, tick: int) -> None:
    """The demo's CJIB traffic: the contract's examples first (its must-refuse one included),
    then a few events a call, now and then one that misbehaves."""
    if tick == 1:
        for example in sorted((PROJECT_DIR / "schemas" / "cjib" / "examples").glob("[va]*-0[12]-*.xml")):
            tell(client, example.read_bytes(), example.name)
        return
    misbehave = MISBEHAVIOURS[(tick // 5) % len(MISBEHAVIOURS)] if tick % 5 == 0 else None
    tell(client, request(events(1 + tick % 3, prefix=f"CJIB-DEMO-{int(time.time())}")), "call", misbehave)


def tell(client: CjibClient, body: bytes, what: str, misbehave: str | None = None) -> bool:
    """One call of the demo's, what the hub answered logged; False when the hub refused it whole
    or could not be reached."""
    try:
        answer = client.call(body, misbehave)
    except Fault as e:
        log.info("CJIB call refused by the hub: %s", e.reason)
        return False
    except (requests.RequestException, SecurityRefused) as e:
        log.warning("CJIB could not call the hub (is `ketenhub serve` running?): %s", type(e).__name__)
        return False
    log.info("CJIB %s: %s", what, ", ".join(f"{b} {c}" for b, c, _ in answer.results))
    return True
