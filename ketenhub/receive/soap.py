"""Politie over SOAP: poll HaalMeldingen from the stored cursor, page while MeerBeschikbaar,
store every page durably, and only then confirm it with BevestigOntvangst.

Each page goes through the ordinary pipeline as one payload (root HaalMeldingenAntwoord), so a
melding handed out again after a crash is recognised by its BerichtId and creates nothing.
Faults, HTTP 5xx and dropped connections are retried with backoff; a failure on one page
leaves the pages before it stored, confirmed and not asked for again.

Every page must move the cursor on: one whose highest Volgnummer is not above it (the same page
again, or an older one) stops the run with an error, as it would otherwise be asked for again
for ever. A run asks for at most ``max_pages`` pages; the next run goes on from the cursor.
"""
from __future__ import annotations

import logging
import tempfile
from time import sleep
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from sqlalchemy import select

from ketenhub.audit.trail import now
from ketenhub.protocols.soap import ProtocolError, ServiceUnavailable, SoapClient, SoapFault
from ketenhub.receive.base import Incoming

log = logging.getLogger(__name__)
NS = "urn:keten:politie:slachtoffermelding:v1"


@dataclass
class PollReport:
    pages: int = 0
    meldingen: int = 0
    confirmed_up_to: int | None = None
    reports: list = field(default_factory=list)


def with_retries(call, attempts: int, backoff: float):
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (SoapFault, ServiceUnavailable) as e:
            if attempt == attempts:
                raise
            log.warning("Politie service: %s; attempt %d of %d", type(e).__name__, attempt, attempts)
            sleep(backoff * 2 ** (attempt - 1))


class PageDoesNotAdvance(ProtocolError):
    """The service handed out a page that does not move the cursor on."""


def _volgnummers(page: etree._Element, cursor: int) -> list[int]:
    numbers = []
    for v in page.iterfind(f"{{{NS}}}Melding/{{{NS}}}Volgnummer"):
        text = (v.text or "").strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise ProtocolError(f"HaalMeldingen from Volgnummer {cursor}: a Melding without a readable Volgnummer")
        numbers.append(int(text))
    return numbers


class MeldingenPoller:
    def __init__(self, hub, client: SoapClient, page_size: int = 1000, attempts: int = 5, backoff: float = 1.0,
                 max_pages: int = 100):
        self.hub, self.client = hub, client
        self.page_size, self.attempts, self.backoff = page_size, attempts, backoff
        self.max_pages = max_pages
        self.partner = hub.registry.partner("politie")

    def _cursor(self) -> int:
        from ketenhub.store.tables import receive_cursor
        with self.hub.engine.connect() as conn:
            return conn.scalar(select(receive_cursor.c.position).where(
                receive_cursor.c.partner == self.partner.partner)) or 0

    def _advance(self, position: int) -> None:
        from ketenhub.store.tables import receive_cursor
        with self.hub.engine.begin() as conn:
            updated = conn.execute(receive_cursor.update().where(receive_cursor.c.partner == self.partner.partner)
                                   .values(position=position, updated_at=now())).rowcount
            if not updated:
                conn.execute(receive_cursor.insert().values(partner=self.partner.partner, position=position,
                                                            updated_at=now()))

    def _request(self, tag: str, **values) -> etree._Element:
        el = etree.Element(f"{{{NS}}}{tag}", nsmap={None: NS})
        for k, v in values.items():
            etree.SubElement(el, f"{{{NS}}}{k}").text = str(v)
        return el

    def poll(self) -> PollReport:
        from ketenhub.pipeline import ingest

        report = PollReport()
        cursor = self._cursor()
        while True:
            if report.pages >= self.max_pages:
                log.warning("Politie: %d pages read, the most for one run (adapter max_pages); "
                            "the next run goes on after Volgnummer %d", report.pages, cursor)
                break
            page = with_retries(lambda: self.client.call("HaalMeldingen", self._request(
                "HaalMeldingenVerzoek", VanafVolgnummer=cursor, MaxAantal=self.page_size)), self.attempts, self.backoff)
            numbers = _volgnummers(page, cursor)
            if not numbers:
                break
            if max(numbers) <= cursor:
                raise PageDoesNotAdvance(
                    f"HaalMeldingen from Volgnummer {cursor} answered a page up to Volgnummer {max(numbers)}, "
                    "which does not move the cursor on; stopped (the service handed out an old page)")
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"HaalMeldingen_{cursor + 1}-{max(numbers)}.xml"
                path.write_bytes(etree.tostring(page, xml_declaration=True, encoding="UTF-8"))
                stored = ingest(self.hub, self.partner, Incoming(path.name, path))
            report.reports.append(stored)
            if stored.state == "rejected":
                # Kept in quarantine with its reason; confirming would let the police purge
                # meldingen whose numbers we could not read: stop and let an operator look.
                raise RuntimeError(f"page after Volgnummer {cursor} was rejected: {stored.text()}")
            cursor = max(numbers)
            # Stored durably: only now may the police forget them. A crash before the cursor moves
            # means the page is asked for again, and its meldingen are recognised as duplicates.
            with_retries(lambda: self.client.call("BevestigOntvangst", self._request(
                "BevestigOntvangstVerzoek", TotEnMetVolgnummer=cursor)), self.attempts, self.backoff)
            self._advance(cursor)
            report.pages += 1
            report.meldingen += len(numbers)
            report.confirmed_up_to = cursor
            if page.findtext(f"{{{NS}}}MeerBeschikbaar", "").strip() not in ("true", "1"):
                break
        return report
