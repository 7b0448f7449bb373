"""KbSP over SOAP: PubliceerZaakstatus with up to 500 Zaakstatus per call, a result per item."""
from __future__ import annotations

from lxml import etree

from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.protocols.soap import SoapClient
from ketenhub.validate.parsing import parser

NS = "urn:keten:kbsp:zaakstatus:v1"
OUTCOME = {"GEACCEPTEERD": "delivered", "DUPLICAAT": "delivered",  # DUPLICAAT: it already had it
           "AFGEWEZEN": "failed", "TIJDELIJK_NIET_VERWERKT": "retry"}


class KbspTransport(Transport):
    def __init__(self, client: SoapClient):
        self.client = client

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        # A Fault, HTTP 5xx or lost connection raises: nothing in the call was processed.
        answer = self.client.call("PubliceerZaakstatus", etree.fromstring(document, parser()))
        results = {}
        for r in answer.iterfind(f"{{{NS}}}Resultaat"):
            code = r.findtext(f"{{{NS}}}Code")
            reason = r.findtext(f"{{{NS}}}Reden")
            results[r.findtext(f"{{{NS}}}BerichtId")] = ItemResult(
                OUTCOME.get(code, "retry"), f"KbSP: {code}" + (f": {reason}" if reason else "") if code not in
                ("GEACCEPTEERD", "DUPLICAAT") else None)
        return results
