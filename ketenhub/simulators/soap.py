"""A SOAP 1.1 service as the partners run it: serves its WSDL (with the real address) and
XSDs, checks the WS-Addressing headers and validates every request body against the XSD,
answers with wsa:RelatesTo. Subclasses implement the operations. One simulator may serve several
services (``serve``: another version of the contract at its own path)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ketenhub.protocols.soap import SOAP, WSA
from ketenhub.settings import PROJECT_DIR
from ketenhub.simulators.base import Simulator
from ketenhub.xml.parsing import parser
from ketenhub.xml.schema import compile_schema

SCHEMAS = PROJECT_DIR / "schemas"


@dataclass(frozen=True)
class Service:
    wsdl: str
    xsd: str
    schema: etree.XMLSchema
    actions: dict  # SOAPAction -> operation


class SoapSimulator(Simulator):
    contract: str  # folder under schemas/
    wsdl: str
    xsd: str
    path: str  # the service path, as in the WSDL's soap:address
    oin: str  # the service's own OIN, expected in wsa:To

    def __init__(self, port: int = 0, **tls):
        super().__init__(port, **tls)
        self.services: dict[str, Service] = {}
        self.serve(self.path, self.wsdl, self.xsd)

    def serve(self, path: str, wsdl: str, xsd: str) -> None:
        """Serve the service of ``wsdl`` (payload ``xsd``), under schemas/<contract>/, at ``path``."""
        definitions = etree.parse(str(SCHEMAS / self.contract / wsdl), parser())
        actions = {op.get("soapAction"): op.getparent().get("name")
                   for op in definitions.iter("{http://schemas.xmlsoap.org/wsdl/soap/}operation")}
        self.services[path] = Service(wsdl, xsd, compile_schema(str(SCHEMAS / self.contract / xsd)), actions)

    @property
    def schema(self) -> etree.XMLSchema:
        return self.services[self.path].schema

    @property
    def actions(self) -> dict:
        return self.services[self.path].actions

    @property
    def address(self) -> str:
        return self.url + self.path

    @property
    def service_url(self) -> str:
        return self.address

    def handle(self, h, method, body):
        if method == "GET":
            return self.serve_contract(h.path)
        service = self.services.get(h.path)
        if service is None:
            return 404, {}, b"no such service"
        try:
            envelope = etree.fromstring(body, parser())
        except etree.XMLSyntaxError as e:
            return self.fault("soap:Client", f"not well-formed: {e.msg}")
        header = envelope.find(f"{{{SOAP}}}Header")
        request = envelope.find(f"{{{SOAP}}}Body")
        action = (h.headers.get("SOAPAction") or "").strip('"')
        wsa = {tag: header.findtext(f"{{{WSA}}}{tag}") if header is not None else None
               for tag in ("Action", "MessageID", "To")}
        sender = header.findtext(f"{{{WSA}}}From/{{{WSA}}}Address") if header is not None else None
        if action not in service.actions or wsa["Action"] != action:
            return self.fault("soap:Client", "wsa:Action missing or not equal to the SOAPAction")
        if not wsa["MessageID"] or not sender or "?OIN=" not in sender:
            return self.fault("soap:Client", "wsa:MessageID or wsa:From with the sender's OIN missing")
        if not (wsa["To"] or "").endswith(f"?OIN={self.oin}"):
            return self.fault("soap:Client", f"wsa:To must name this service's OIN {self.oin}")
        if request is None or len(request) != 1 or not service.schema.validate(request[0]):
            return self.fault("soap:Client", "the request body is not valid against the contract's XSD")
        if self.take("fail_next"):
            kind = self.misbehaviour.fail_with
            if kind == "fault":
                return self.fault("soap:Server", "the service is busy; try again later")
            return int(kind), {"Retry-After": str(self.misbehaviour.retry_after)}, b"busy"
        answer = self.operation_at(h.path, service.actions[action], request[0])
        return 200, {"Content-Type": "text/xml; charset=utf-8"}, self.envelope(answer, action, wsa["MessageID"])

    def operation(self, name: str, request: etree._Element) -> etree._Element | bytes:
        """The answer's element, or its bytes (see ``envelope``)."""
        raise NotImplementedError

    def operation_at(self, path: str, name: str, request: etree._Element) -> etree._Element | bytes:
        """An operation of the service at ``path``; a simulator of one service needs only ``operation``."""
        return self.operation(name, request)

    def envelope(self, answer: etree._Element | bytes, action: str, relates_to: str) -> bytes:
        """``answer``: the body's element, or its bytes (a document of its own, without XML
        declaration), which are put in the envelope as they are unless the misbehaviour reshapes it."""
        if isinstance(answer, bytes) and self.misbehaviour.noise:
            answer = etree.fromstring(answer, parser())
        env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA})
        header = etree.SubElement(env, f"{{{SOAP}}}Header")
        for tag, value in (("Action", action + "Response"), ("MessageID", f"urn:uuid:{uuid.uuid4()}"),
                           ("RelatesTo", relates_to)):
            etree.SubElement(header, f"{{{WSA}}}{tag}").text = value
        body = etree.SubElement(env, f"{{{SOAP}}}Body")
        if isinstance(answer, bytes):
            head, tail = self._misshape(env).rsplit(b"<soap:Body/>", 1)
            return b"".join((head, b"<soap:Body>", answer, b"</soap:Body>", tail))
        body.append(answer)
        return self._misshape(env)

    def _misshape(self, env: etree._Element) -> bytes:
        """The answer as sent, with the noise or DTD the misbehaviour asks for."""
        if self.misbehaviour.noise:
            for el in list(env.iter()):
                if len(el) == 0:
                    if el.text and len(el.text) > 1:  # a comment inside every value
                        comment = etree.Comment(" noise ")
                        comment.tail, el.text = el.text[1:], el.text[:1]
                        el.append(comment)
                else:  # and a comment, a processing instruction and whitespace first in every container
                    el.text = "\n  "
                    el.insert(0, etree.PI("noise", "first"))
                    el.insert(0, etree.Comment(" first child "))
        xml = etree.tostring(env, encoding="UTF-8")
        doctype = b'<!DOCTYPE soap:Envelope [<!ENTITY e "x">]>\n' if self.misbehaviour.doctype else b""
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + xml

    def fault(self, code: str, reason: str):
        env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
        fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP}}}Body"), f"{{{SOAP}}}Fault")
        etree.SubElement(fault, "faultcode").text = code
        etree.SubElement(fault, "faultstring").text = reason
        return 500, {"Content-Type": "text/xml; charset=utf-8"}, self._misshape(env)

    def serve_contract(self, path: str):
        if path.endswith("?wsdl") or path.endswith("?WSDL"):
            service = self.services.get(path[:-5])
            if service is None:
                return 404, {}, b"not found"
            wsdl = etree.parse(str(SCHEMAS / self.contract / service.wsdl), parser())
            for address in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
                address.set("location", self.url + path[:-5])
            return 200, {"Content-Type": "text/xml"}, etree.tostring(wsdl, xml_declaration=True, encoding="UTF-8")
        name = Path(path).name
        if name in {s.xsd for s in self.services.values()}:
            return 200, {"Content-Type": "text/xml"}, (SCHEMAS / self.contract / name).read_bytes()
        return 404, {}, b"not found"
