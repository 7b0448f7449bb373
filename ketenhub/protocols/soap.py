"""SOAP 1.1 document/literal as the Digikoppeling WUS profile wants it.

The partner's WSDL, a file of the fixed contract under schemas/, gives the SOAPAction of each
operation (read once per process with the safe parser); nothing else of it is needed. The body
is XML the hub already has, so it goes out as it is, over one kept-alive session, and the answer
is read with lxml: no per-item objects on the hot path. zeep is not used here: building a zeep
client to read the actions cost a fresh task process more than a poll's page of meldingen.

WS-Addressing 1.0: wsa:Action (= the SOAPAction), wsa:MessageID, wsa:To (endpoint with the
receiver's OIN as query string) and wsa:From (anonymous address with the hub's OIN); the
answer must carry wsa:RelatesTo with our MessageID.

The calls go through ketenhub.protocols.http: no redirect followed, an overall deadline per
call, the answer read up to a limit, two-way TLS as the Connection says. An answer is parsed
without comments and processing instructions (they may stand anywhere, also first in the Body
or inside a value), and one that declares a DTD is refused, as every document from outside is.
"""
from __future__ import annotations

import uuid
from functools import lru_cache
from pathlib import Path

from lxml import etree

from ketenhub.protocols import errors
from ketenhub.protocols.http import (DEFAULT_ANSWER_MAX_BYTES, DEFAULT_DEADLINE_SECONDS, AnswerTooLarge,
                                     DeadlineExceeded, HttpClient, PlainHttpRefused, Redirected, Tls, TlsRefused)
from ketenhub.settings import HUB_OIN
from ketenhub.xml.parsing import SAFE, check_dtd, parse_trusted

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"  # SOAP 1.1's binding


class SoapFault(Exception):
    """The service answered a SOAP Fault: nothing in the call was processed."""

    def __init__(self, code: str, reason: str):
        self.code, self.reason = code, reason
        super().__init__(f"SOAP Fault {code}: {reason}")


class ServiceUnavailable(Exception):
    """HTTP 5xx without a Fault, or no answer: nothing in the call was processed."""


class ProtocolError(Exception):
    """An answer that breaks the contract (no RelatesTo, not SOAP, a DTD, too large, a redirect):
    do not trust it."""


class RedirectRefused(ProtocolError):
    """The service answered with a redirect, which is never followed."""


class CallNotMade(Exception):
    """The hub did not make the call: the server's certificate was refused (or the server refused
    the hub's), or the address is plain HTTP where the Connection does not allow it. Waiting mends
    neither. ``kind``: the refusal's name (TlsRefused, PlainHttpRefused)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def _answer_parser() -> etree.XMLParser:
    return etree.XMLParser(remove_comments=True, remove_pis=True, **SAFE)


@lru_cache(maxsize=None)
def soap_actions(wsdl: str) -> dict[str, str]:
    """Operation name -> SOAPAction, from the first SOAP 1.1 binding of the WSDL file ``wsdl``.
    A contract's WSDL is a local file: nothing is fetched, and nothing it imports is read."""
    if "://" in wsdl:
        raise ValueError(f"{wsdl}: the WSDL is read from the contract's file under schemas/, never fetched")
    definitions = parse_trusted(wsdl).getroot()
    for binding in definitions.iterfind(f"{{{WSDL}}}binding"):
        if binding.find(f"{{{WSDL_SOAP}}}binding") is None:
            continue
        return {op.get("name"): action.get("soapAction")
                for op in binding.iterfind(f"{{{WSDL}}}operation")
                if (action := op.find(f"{{{WSDL_SOAP}}}operation")) is not None and action.get("soapAction")}
    raise ValueError(f"{Path(wsdl).name} has no SOAP 1.1 binding")


class SoapClient:
    def __init__(self, wsdl: str, address: str, receiver_oin: str, timeout: float = 30,
                 deadline: float = DEFAULT_DEADLINE_SECONDS, max_bytes: int = DEFAULT_ANSWER_MAX_BYTES,
                 tls: Tls | None = None):
        self.actions = soap_actions(wsdl)
        self.address = address
        self.receiver_oin = receiver_oin
        # One kept-alive session for all calls of this client to this service.
        self.http = HttpClient(timeout, deadline, max_bytes, tls=tls)

    def envelope(self, operation: str, body: etree._Element, message_id: str) -> bytes:
        env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA})
        header = etree.SubElement(env, f"{{{SOAP}}}Header")
        for tag, value in (("Action", self.actions[operation]), ("MessageID", message_id),
                           ("To", f"{self.address}?OIN={self.receiver_oin}")):
            etree.SubElement(header, f"{{{WSA}}}{tag}").text = value
        etree.SubElement(etree.SubElement(header, f"{{{WSA}}}From"), f"{{{WSA}}}Address").text = \
            f"{ANONYMOUS}?OIN={HUB_OIN}"
        etree.SubElement(env, f"{{{SOAP}}}Body").append(body)
        return etree.tostring(env, xml_declaration=True, encoding="UTF-8")

    def call(self, operation: str, body: etree._Element) -> etree._Element:
        """Send one request; return the first element of the answer's Body."""
        message_id = f"urn:uuid:{uuid.uuid4()}"
        data = self.envelope(operation, body, message_id)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{self.actions[operation]}"'}
        try:
            response = self.http.post(self.address, data, headers, operation)
        except Redirected as e:
            raise RedirectRefused(str(e)) from None
        except AnswerTooLarge as e:
            raise ProtocolError(str(e)) from None
        except (TlsRefused, PlainHttpRefused) as e:
            raise CallNotMade(str(e), type(e).__name__) from e
        except (errors.RequestException, DeadlineExceeded) as e:
            raise ServiceUnavailable(str(e) if isinstance(e, DeadlineExceeded)
                                     else f"{type(e).__name__} calling {operation}") from e
        try:
            answer = etree.fromstring(response.content, _answer_parser())
        except etree.XMLSyntaxError:
            if response.status >= 500:
                raise ServiceUnavailable(f"HTTP {response.status} from {operation}") from None
            raise ProtocolError(f"{operation}: HTTP {response.status}, answer is not XML") from None
        if check_dtd(answer):
            raise ProtocolError(f"{operation}: the answer declares a DTD (<!DOCTYPE>); refused")
        if answer.tag != f"{{{SOAP}}}Envelope":
            raise ProtocolError(f"{operation}: the answer is not a SOAP 1.1 Envelope")
        body_el = answer.find(f"{{{SOAP}}}Body")
        first = next(body_el.iterchildren(etree.Element), None) if body_el is not None else None
        if first is None:
            raise ProtocolError(f"{operation}: the answer has no SOAP Body")
        if first.tag == f"{{{SOAP}}}Fault":
            raise SoapFault((first.findtext("faultcode") or "").strip(), (first.findtext("faultstring") or "").strip())
        if response.status >= 400:
            raise ServiceUnavailable(f"HTTP {response.status} from {operation}")
        relates = (answer.findtext(f"{{{SOAP}}}Header/{{{WSA}}}RelatesTo") or "").strip()
        if relates != message_id:
            raise ProtocolError(f"{operation}: the answer's wsa:RelatesTo does not match our MessageID")
        return first
