"""How a destination wants its items packed: the outbound document around a batch of items."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Callable
from zoneinfo import ZoneInfo

from lxml import etree

from ketenhub.settings import HUB_OIN
from ketenhub.validate.parsing import parser

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_PARSER = parser()


def _items(documents: list[bytes]) -> list[etree._Element]:
    return [etree.fromstring(d, _PARSER) for d in documents]


def _document(root: etree._Element) -> bytes:
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def publiceer_zaakstatus(documents: list[bytes], name: str, created: datetime) -> bytes:
    root = etree.Element("{urn:keten:kbsp:zaakstatus:v1}PubliceerZaakstatusVerzoek",
                         nsmap={None: "urn:keten:kbsp:zaakstatus:v1"})
    root.extend(_items(documents))
    return _document(root)


def beroepstatus(documents: list[bytes], name: str, created: datetime) -> bytes:
    (item,) = _items(documents)
    return _document(item)


CJIB = "urn:keten:cjib:opdrachten:v1"
MAX_TOTAAL = Decimal("99999999.99")  # the contract's maximum for Kop/TotaalBedrag


def _bedrag(item: etree._Element) -> Decimal:
    return Decimal(item.findtext(f"{{{CJIB}}}Bedrag"))


def opdrachten_fit(documents: list[bytes]) -> int:
    """How many opdrachten fit in one batch without TotaalBedrag passing its maximum."""
    total = Decimal(0)
    for n, item in enumerate(_items(documents)):
        total += _bedrag(item)
        if total > MAX_TOTAAL:
            return max(n, 1)
    return len(documents)


def opdrachten_batch(documents: list[bytes], name: str, created: datetime) -> bytes:
    ns = CJIB
    items = _items(documents)
    total = sum((_bedrag(i) for i in items), Decimal("0.00"))
    root = etree.Element(f"{{{ns}}}OpdrachtenBatch", nsmap={None: ns})
    kop = etree.SubElement(root, f"{{{ns}}}Kop")
    for tag, value in (("BatchId", name.removesuffix(".xml")), ("Afzender", HUB_OIN),
                       ("Aanmaaktijdstip", created.astimezone(AMSTERDAM).isoformat(timespec="seconds")),
                       ("AantalOpdrachten", str(len(items))), ("TotaalBedrag", f"{total:.2f}")):
        etree.SubElement(kop, f"{{{ns}}}{tag}").text = value
    root.extend(items)
    return _document(root)


@dataclass(frozen=True)
class Envelope:
    max_items: int
    prefix: str  # file or batch name: <prefix>_<YYYYMMDD>_<NNN>.xml, date in Amsterdam time
    build: Callable[[list[bytes], str, datetime], bytes]
    fit: Callable[[list[bytes]], int] = len  # how many of the claimed items one document can hold

    def name(self, created: datetime, sequence: int) -> str:
        return f"{self.prefix}_{created.astimezone(AMSTERDAM):%Y%m%d}_{sequence:03d}.xml"

    @staticmethod
    def day(created: datetime) -> tuple[datetime, datetime]:
        """The day whose date a name made at ``created`` carries, from and to midnight in
        Amsterdam, in UTC."""
        date = created.astimezone(AMSTERDAM).date()
        return tuple(datetime.combine(d, time(), AMSTERDAM).astimezone(timezone.utc)
                     for d in (date, date + timedelta(days=1)))


ENVELOPES = {
    "publiceer-zaakstatus": Envelope(500, "KETENHUB_KBSP", publiceer_zaakstatus),  # contract: at most 500
    "beroepstatus": Envelope(1, "KETENHUB_DLV", beroepstatus),
    "opdrachten-batch": Envelope(10_000, "KETENHUB_CJIB", opdrachten_batch, opdrachten_fit),  # contract's name
}
