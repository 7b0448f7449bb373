"""KbSP over SOAP: PubliceerZaakstatus with up to 500 Zaakstatus per call, a result per item."""
from __future__ import annotations

from lxml import etree

from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.protocols.soap import RedirectRefused, SoapClient
from ketenhub.validate.parsing import parser

NS = "urn:keten:kbsp:zaakstatus:v1"
OUTCOME = {"GEACCEPTEERD": "delivered", "DUPLICAAT": "delivered",  # DUPLICAAT: it already had it
           "AFGEWEZEN": "failed", "TIJDELIJK_NIET_VERWERKT": "retry"}


def _text(el: etree._Element, tag: str) -> str | None:
    value = el.findtext(f"{{{NS}}}{tag}")
    return value.strip() if value is not None else None


class KbspTransport(Transport):
    def __init__(self, client: SoapClient):
        self.client = client

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        # A Fault, HTTP 5xx or lost connection raises: nothing in the call was processed.
        try:
            answer = self.client.call("PubliceerZaakstatus", etree.fromstring(document, parser()))
        except RedirectRefused as e:  # sending again goes to the same redirect: an operator must look
            return {k: ItemResult("failed", f"KbSP: {e}") for k in keys}
        results = {}
        for r in answer.iterfind(f"{{{NS}}}Resultaat"):
            code = _text(r, "Code")
            reason = (_text(r, "Reden") or "")[:500]  # the portal's words, not its whole answer
            results[_text(r, "BerichtId")] = ItemResult(
                OUTCOME.get(code, "retry"), f"KbSP: {code}" + (f": {reason}" if reason else "") if code not in
                ("GEACCEPTEERD", "DUPLICAAT") else None)
        return results
