"""Politie over SOAP, as a Source: HaalMeldingen from the cursor, a page at a time while
MeerBeschikbaar; each page is one payload, and only once it is stored does ``done`` confirm it
with BevestigOntvangst and move the cursor on. The next page is asked for while one is
stored: it is taken only after that one is confirmed, and dropped if the run stops.

A melding handed out again after a crash is recognised by its BerichtId and creates nothing.
Faults, HTTP 5xx and dropped connections are retried with backoff; a failure on one page leaves
the pages before it stored, confirmed and not asked for again. A rejected page stops the run:
confirming it would let the police purge meldingen whose numbers the hub could not read.

Every page must move the cursor on: one whose highest Volgnummer is not above it (the same page
again, or an older one) stops the run with an error, as it would otherwise be asked for again
for ever. A run asks for at most ``max_pages`` pages; the next run goes on from the cursor.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from lxml import etree

from ketenhub.protocols.soap import ProtocolError, ServiceUnavailable, SoapClient, SoapFault
from ketenhub.receive.base import Cursor, Incoming, Source
from ketenhub.retry import with_retries

log = logging.getLogger(__name__)
NS = "urn:keten:politie:slachtoffermelding:v1"


class PageDoesNotAdvance(ProtocolError):
    """The service handed out a page that does not move the cursor on."""


# The Volgnummers' texts as plain strings, and how many there are (an empty one has no text):
# cheaper than iterating the elements for their text.
_VOLGNUMMERS = etree.XPath("p:Melding/p:Volgnummer/text()", namespaces={"p": NS}, smart_strings=False)
_VOLGNUMMER_COUNT = etree.XPath("count(p:Melding/p:Volgnummer)", namespaces={"p": NS})


def _volgnummers(page: etree._Element, cursor: int) -> list[int]:
    texts = [text.strip() for text in _VOLGNUMMERS(page)]
    if len(texts) != _VOLGNUMMER_COUNT(page) or not all(t.isascii() and t.isdigit() and len(t) <= 18 for t in texts):
        raise ProtocolError(f"HaalMeldingen from Volgnummer {cursor}: a Melding without a readable Volgnummer")
    return [int(t) for t in texts]


class PageRejected(Exception):
    """A page the hub could not take: kept in quarantine with its reason, and not confirmed."""


class MeldingenInbox(Source):
    ordered = True  # each page stored moves the Volgnummer on
    paged = True

    def __init__(self, client: SoapClient, cursor: Cursor, workdir: Path, page_size: int = 1000,
                 attempts: int = 5, backoff: float = 1.0, max_pages: int = 100):
        self.client, self.cursor, self.workdir = client, cursor, Path(workdir)
        self.page_size, self.attempts, self.backoff, self.max_pages = page_size, attempts, backoff, max_pages
        self._stopped = False

    def _call(self, operation: str, tag: str, **values) -> etree._Element:
        request = etree.Element(f"{{{NS}}}{tag}", nsmap={None: NS})
        for k, v in values.items():
            etree.SubElement(request, f"{{{NS}}}{k}").text = str(v)
        return with_retries(lambda last: self.client.call(operation, request), (SoapFault, ServiceUnavailable),
                            self.attempts, self.backoff, f"Politie {operation}")

    def ready(self) -> Iterator[Incoming]:
        for left in self.workdir.glob("HaalMeldingen_*.xml"):  # by a run that stopped before confirming them
            left.unlink()  # they are asked for again now
        position = self.cursor.position()
        # The next page is asked for while this one is stored and confirmed, so that the service's
        # time to answer overlaps the hub's work on a page. It is asked from this page's last
        # Volgnummer, which does not depend on this page being confirmed.
        fetcher = ThreadPoolExecutor(1, thread_name_prefix="ketenhub-politie")
        try:
            asked = fetcher.submit(self._page, position)
            for taken in range(1, self.max_pages + 1):
                page = asked.result()
                numbers = _volgnummers(page, position)
                if not numbers:
                    return
                if max(numbers) <= position:
                    raise PageDoesNotAdvance(
                        f"HaalMeldingen from Volgnummer {position} answered a page up to Volgnummer {max(numbers)}, "
                        "which does not move the cursor on; stopped (the service handed out an old page)")
                more = page.findtext(f"{{{NS}}}MeerBeschikbaar", "").strip() in ("true", "1")
                if more and taken < self.max_pages:
                    asked = fetcher.submit(self._page, max(numbers))
                self.workdir.mkdir(parents=True, exist_ok=True)
                path = self.workdir / f"HaalMeldingen_{position + 1}-{max(numbers)}.xml"
                # As exclusive canonical XML, the page declares only the namespaces it uses, not SOAP's and
                # WS-Addressing's, and none twice (as each Melding may): the scan then reads it as a flat
                # batch, without parsing it into elements again. Cheaper than taking it out of its envelope.
                path.write_bytes(etree.tostring(page, method="c14n", exclusive=True, with_comments=False))
                yield Incoming(path.name, path, well_formed=True)
                if self._stopped:
                    return
                position = max(numbers)
                if not more:
                    return
            log.warning("Politie: %d pages read, the most for one run (adapter max_pages); "
                        "the next run goes on after Volgnummer %d", self.max_pages, position)
        finally:  # a page asked for ahead and not taken is neither stored nor confirmed: asked again next run
            fetcher.shutdown(wait=True, cancel_futures=True)

    def _page(self, position: int) -> etree._Element:
        return self._call("HaalMeldingen", "HaalMeldingenVerzoek", VanafVolgnummer=position, MaxAantal=self.page_size)

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        item.path.unlink(missing_ok=True)  # kept under payloads/ by its SHA-256
        if not accepted:
            self._stopped = True
            raise PageRejected(f"the page {item.name} was rejected; it is kept in quarantine with its reason")
        up_to = int(item.name.removesuffix(".xml").rpartition("-")[2])
        # Stored durably: only now may the police forget them. A crash before the cursor moves
        # means the page is asked for again, and its meldingen are recognised as duplicates.
        self._call("BevestigOntvangst", "BevestigOntvangstVerzoek", TotEnMetVolgnummer=up_to)
        self.cursor.advance(up_to)


def configured(partner, endpoint, setup) -> MeldingenInbox:
    """HaalMeldingen at the partner's Connection, from the store's cursor (receive.kinds)."""
    from ketenhub.receive.kinds import options

    options(None, partner)
    r = partner.receive
    client = SoapClient(str(setup.schemas_dir / r.wsdl), endpoint.base_url, partner.oin, endpoint.timeout,
                        r.call_deadline_seconds, r.answer_max_bytes, tls=endpoint.tls(partner.oin))
    return MeldingenInbox(client, setup.cursor, setup.workdir, max_pages=r.max_pages)
