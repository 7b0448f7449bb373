"""How a destination wants its items packed: the outbound document around a batch of items.

Envelopes are registered by kind (``KINDS``), and an adapter's ``envelope:`` names one with its
settings:

    envelope: {kind: wrap, root: "{urn:...}PubliceerZaakstatusVerzoek", max_items: 500, name: KETENHUB_KBSP}
    envelope: {kind: single, name: KETENHUB_DLV}            # the item is the document
    envelope:                                               # a batch with a header of control totals
      kind: control-totals
      root: "{urn:keten:cjib:opdrachten:v1}OpdrachtenBatch"
      header: Kop                 # in the root's namespace, as the fields and the amount
      fields: {BatchId: name, Afzender: sender, Aanmaaktijdstip: created, AantalOpdrachten: count,
               TotaalBedrag: total}
      amount: Bedrag              # in each item; total is their sum
      max_total: "99999999.99"    # a batch whose total would pass it holds fewer items
      max_items: 10000
      name: KETENHUB_CJIB

``name`` is the prefix of a batch's name: ``<name>_<YYYYMMDD>_<NNN>.xml``, the date in
Amsterdam time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Callable, Mapping

from lxml import etree

from ketenhub.clock import AMSTERDAM
from ketenhub.settings import HUB_OIN
from ketenhub.xml.parsing import parser

_PARSER = parser()


@dataclass(frozen=True)
class Envelope:
    max_items: int
    prefix: str  # file or batch name: <prefix>_<YYYYMMDD>_<NNN>.xml, date in Amsterdam time
    build: Callable[[list[bytes], str, datetime], etree._Element]  # the document's root, indented (as_bytes)
    fit: Callable[[list[bytes]], int] = len  # how many of the claimed items one document can hold
    # Whether the tree ``build`` gives is the document as sent, and so may be checked as it is. Not
    # where items are moved under a root: one that names the root's namespace by a prefix beside
    # a default of its own serialises in another namespace than the tree has it.
    same_as_sent: bool = False

    def name(self, created: datetime, sequence: int) -> str:
        return f"{self.prefix}_{created.astimezone(AMSTERDAM):%Y%m%d}_{sequence:03d}.xml"

    @staticmethod
    def day(created: datetime) -> tuple[datetime, datetime]:
        """The day whose date a name made at ``created`` carries, from and to midnight in
        Amsterdam, in UTC."""
        date = created.astimezone(AMSTERDAM).date()
        return tuple(datetime.combine(d, time(), AMSTERDAM).astimezone(timezone.utc)
                     for d in (date, date + timedelta(days=1)))


def _items(documents: list[bytes]) -> list[etree._Element]:
    return [etree.fromstring(d, _PARSER) for d in documents]


def _indented(root: etree._Element) -> etree._Element:
    etree.indent(root, space="  ")
    return root


def as_bytes(root: etree._Element) -> bytes:
    """A document that ``Envelope.build`` made, as it is sent."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def _root(clark: str) -> etree._Element:
    return etree.Element(clark, nsmap={None: etree.QName(clark).namespace})


def wrap(o: Mapping) -> Envelope:
    """The items in one root element."""
    def build(documents: list[bytes], name: str, created: datetime) -> etree._Element:
        root = _root(o["root"])
        root.extend(_items(documents))
        return _indented(root)
    return Envelope(int(o["max_items"]), o["name"], build)


def single(o: Mapping) -> Envelope:
    """One item, which is the document."""
    def build(documents: list[bytes], name: str, created: datetime) -> etree._Element:
        (item,) = _items(documents)
        return _indented(item)
    return Envelope(1, o["name"], build, same_as_sent=True)


def control_totals(o: Mapping) -> Envelope:
    """The items under a header that counts them and sums their amounts."""
    ns = etree.QName(o["root"]).namespace
    amount, max_total = f"{{{ns}}}{o['amount']}", Decimal(str(o["max_total"]))

    def total(items: list[etree._Element]) -> Decimal:
        return sum((Decimal(i.findtext(amount)) for i in items), Decimal("0.00"))

    def fit(documents: list[bytes]) -> int:
        """How many items fit in one batch without the total passing its maximum."""
        running = Decimal(0)
        for n, item in enumerate(_items(documents)):
            running += Decimal(item.findtext(amount))
            if running > max_total:
                return max(n, 1)
        return len(documents)

    def build(documents: list[bytes], name: str, created: datetime) -> etree._Element:
        items = _items(documents)
        values = {"name": name.removesuffix(".xml"), "sender": HUB_OIN, "count": str(len(items)),
                  "created": created.astimezone(AMSTERDAM).isoformat(timespec="seconds"),
                  "total": f"{total(items):.2f}"}
        root = _root(o["root"])
        header = etree.SubElement(root, f"{{{ns}}}{o['header']}")
        for tag, value in o["fields"].items():
            etree.SubElement(header, f"{{{ns}}}{tag}").text = values[value]
        root.extend(items)
        return _indented(root)
    return Envelope(int(o["max_items"]), o["name"], build, fit)


KINDS: dict[str, Callable[[Mapping], Envelope]] = {"wrap": wrap, "single": single, "control-totals": control_totals}


def envelope(dest) -> Envelope:
    """The destination's envelope, as its adapter configures it."""
    o = dest.envelope
    try:
        return KINDS[o["kind"]](o)
    except KeyError as e:
        raise ValueError(f"{dest.destination}: envelope: {e} missing or unknown (kinds: {', '.join(KINDS)})") from None
