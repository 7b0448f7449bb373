"""The victim portal's SlachtofferInformatieService: accepts Zaakstatus items, answers per item
(GEACCEPTEERD, DUPLICAAT for a BerichtId it already has, AFGEWEZEN, TIJDELIJK_NIET_VERWERKT),
and keeps every accepted item as a file named by its BerichtId."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from lxml import etree

from ketenhub.simulators.soap import SoapSimulator

NS = "urn:keten:kbsp:zaakstatus:v1"


class KbspSimulator(SoapSimulator):
    contract, wsdl, xsd = "kbsp", "SlachtofferInformatieService-v1.wsdl", "zaakstatus-v1.xsd"
    path = "/kbsp/slachtofferinformatie/v1"
    oin = "00000099000000040000"

    def __init__(self, port: int = 0, store: Path | None = None, keep_files: bool = True, **tls):
        super().__init__(port, **tls)
        self.keep_files = keep_files  # off for the benchmark: a million small files
        self.store = Path(store or tempfile.mkdtemp(prefix="kbsp-"))
        self.store.mkdir(parents=True, exist_ok=True)
        self.accepted: dict[str, bytes] = {}
        self.duplicates = 0
        self.items_per_call: list[int] = []
        self.accepted_at: dict[str, float] = {}  # BerichtId -> when it was accepted (freshness)

    def operation(self, name, request):
        answer = etree.Element(f"{{{NS}}}PubliceerZaakstatusAntwoord", nsmap={None: NS})
        with self.lock:
            self.items_per_call.append(len(request))
            for item in request:
                bericht_id = item.findtext(f"{{{NS}}}BerichtId")
                reden = None
                if bericht_id in self.misbehaviour.refuse:
                    code, reden = "AFGEWEZEN", "onbekend slachtoffer"
                elif self.take("busy_next"):
                    code = "TIJDELIJK_NIET_VERWERKT"
                elif bericht_id in self.accepted:
                    code = "DUPLICAAT"
                    self.duplicates += 1
                else:
                    code = "GEACCEPTEERD"
                    self.accepted[bericht_id] = etree.tostring(item)
                    self.accepted_at[bericht_id] = time.time()
                    if self.keep_files:
                        (self.store / f"{bericht_id}.xml").write_bytes(etree.tostring(
                            item, xml_declaration=True, encoding="UTF-8"))
                result = etree.SubElement(answer, f"{{{NS}}}Resultaat")
                etree.SubElement(result, f"{{{NS}}}BerichtId").text = bericht_id
                etree.SubElement(result, f"{{{NS}}}Code").text = code
                if reden:
                    etree.SubElement(result, f"{{{NS}}}Reden").text = reden
        return answer

    def state(self):
        return {"accepted": len(self.accepted), "duplicates": self.duplicates, "store": str(self.store),
                "items_per_call": self.items_per_call[-20:]}
