"""A destination over SOAP: one operation takes a document of items and answers a result per
item, whose code the adapter maps to an outcome. KbSP's PubliceerZaakstatus is one:

    deliver:
      transport: soap
      wsdl: kbsp/SlachtofferInformatieService-v1.wsdl
      operation: PubliceerZaakstatus
      result: "{urn:keten:kbsp:zaakstatus:v1}Resultaat"   # one per item in the answer
      result_key: BerichtId        # child elements of a result, in its namespace
      result_code: Code
      result_reason: Reden         # optional
      outcomes: {GEACCEPTEERD: delivered, DUPLICAAT: delivered, AFGEWEZEN: failed, TIJDELIJK_NIET_VERWERKT: retry}
      reasons: {VERSIE_BUITEN_GEBRUIK: retry}   # optional: a result with exactly this reason, whatever its code

A code the adapter does not name is retried. A Fault, HTTP 5xx or lost connection raises:
nothing in the call was processed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from lxml import etree

from ketenhub.deliver.transports import ItemResult, Transport, options
from ketenhub.protocols.soap import CallNotMade, RedirectRefused, SoapClient
from ketenhub.states import Outcome
from ketenhub.xml.parsing import parser

MAX_REASON = 500  # characters of a result's reason kept: the destination's words, not its whole answer


@dataclass(frozen=True)
class SoapResults:
    operation: str
    result: str  # Clark name of one result in the answer
    outcomes: Mapping[str, str]  # result code -> delivered, failed or retry
    result_key: str = "BerichtId"
    result_code: str = "Code"
    result_reason: str | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)  # a reason's own outcome, over its code's

    def __post_init__(self):
        wrong = {code: o for code, o in {**self.outcomes, **self.reasons}.items() if o not in set(Outcome)}
        if wrong:
            raise ValueError(f"outcomes {wrong}: each must be one of {', '.join(Outcome)}")


OPTIONS = SoapResults  # deliver.transports.declared_options


class SoapDestination(Transport):
    def __init__(self, client: SoapClient, results: SoapResults, label: str):
        self.client, self.results, self.label = client, results, label
        ns = etree.QName(results.result).namespace
        self._child = {name: f"{{{ns}}}{name}" if ns else name
                       for name in (results.result_key, results.result_code, results.result_reason) if name}

    def _text(self, result: etree._Element, name: str | None) -> str | None:
        value = result.findtext(self._child[name]) if name else None
        return value.strip() if value is not None else None

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        r = self.results
        try:
            answer = self.client.call(r.operation, etree.fromstring(document, parser()))
        except RedirectRefused as e:  # sending again goes to the same redirect: an operator must look
            return {k: ItemResult(Outcome.FAILED, f"{self.label}: {e}") for k in keys}
        except CallNotMade as e:  # the Connection or a certificate: waiting mends neither
            return {k: ItemResult(Outcome.FAILED, f"{self.label}: {e.kind}: {e}") for k in keys}
        results = {}
        for result in answer.iterfind(r.result):
            code = self._text(result, r.result_code)
            reason = self._text(result, r.result_reason) or ""
            outcome = Outcome(r.reasons.get(reason) or r.outcomes.get(code, Outcome.RETRY))
            reason = reason[:MAX_REASON]
            results[self._text(result, r.result_key)] = ItemResult(
                outcome, None if outcome == Outcome.DELIVERED else f"{self.label}: {code}" + (f": {reason}" if reason else ""))
        return results


def configured(hub, dest, ep, deadline: float) -> SoapDestination:
    client = SoapClient(str(hub.settings.schemas_dir / dest.wsdl), ep.base_url, dest.oin, ep.timeout, deadline,
                        dest.answer_max_bytes, tls=ep.tls(dest.oin))
    return SoapDestination(client, options(SoapResults, dest), dest.label)
