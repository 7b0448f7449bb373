"""Running the XSLT 1.0 mappings: compiled once per process, forbidden to read or write files
or the network, with a few extension functions (namespace urn:ketenhub:xslt, prefix kh)
for what XSLT 1.0 cannot do well."""
from __future__ import annotations

import copy
from contextlib import contextmanager
import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from lxml import etree

from ketenhub.keys import check
from ketenhub.xml.parsing import parse_trusted

NS = "urn:ketenhub:xslt"


def parketnummer(value: str) -> str:
    """Destinations expect the slash form: 13-002157-09 becomes 13/002157-09."""
    value = value.strip()
    if len(value) == 12 and value[2] in "-/":
        return value[:2] + "/" + value[3:]
    return value


_mac = None  # HMAC-SHA256 with the process's key, copied per reference (see use_key)


def use_key(key: str | None) -> None:
    """The key of this process's Ketenreferenties (keys.read, handed on in Settings). Without
    one, no mapping that makes references compiles or runs: never an unkeyed reference."""
    global _mac
    _mac = hmac.new(check(key), digestmod=hashlib.sha256) if key else None


_register = {}  # registratienummer -> parketnummer: the hub's register of cases (see use_register)


def use_register(register) -> None:
    """The register of case identifiers seen together (store.cases): anything with ``get``, a
    snapshot for a worker process, the store itself for the hub's."""
    global _register
    _register = register if register is not None else {}


@contextmanager
def registered(register):
    """``use_register`` while in the block, then the register before it again."""
    before = _register
    use_register(register)
    try:
        yield
    finally:
        use_register(before)


def expect(events: etree._Element) -> None:
    """Before ``events`` are mapped: a register that asks the store (``expect``) is told the
    registratienummers they name, to look them up at once rather than one event at a time. The
    numbers are any element of that name: a hint only, as a number it lacks is asked for alone."""
    prepare = getattr(_register, "expect", None)  # a worker's snapshot (a dict) has them all already
    if prepare is not None:
        prepare({" ".join(el.text.split()) for el in events.iter("{*}Registratienummer") if el.text})


def ketenreferentie(registratienummer: str, parket: str, bsn: str, ref: str) -> str:
    """Stable reference of one victim in one case, whichever partner sent the event.

    The case is the parketnummer when the event has one, or when the register links the event's
    police registratienummer to one; else the registratienummer. The victim is their BSN when
    known, else the partner's victim ref. A keyed hash (HMAC-SHA256), so that whoever sees a
    reference but not the key cannot try every BSN to find whose it is.
    """
    return _ketenreferentie(None, registratienummer, parket, bsn, ref)


def _ketenreferentie(_context, registratienummer: str, parket: str, bsn: str, ref: str) -> str:
    """``ketenreferentie`` as a mapping calls it (with the XPath context first): one Python call
    per reference rather than two, as a mapping makes one or more per event."""
    if _mac is None:
        check(None)  # raises MissingKey
    case = parketnummer(parket) or _by_registratienummer(registratienummer)
    bsn = bsn.strip()
    victim = f"bsn:{bsn}" if bsn else f"ref:{ref.strip()}"
    mac = _mac.copy()  # the key's inner and outer pads are hashed once per process, not per call
    mac.update(f"{case}|{victim}".encode())
    return "KR-" + mac.hexdigest()[:32]


def _by_registratienummer(registratienummer: str) -> str:
    registratienummer = " ".join(registratienummer.split())  # as the canonical model and the register write it
    return registratienummer and (_register.get(registratienummer, "") or registratienummer)


def boolean(value: str) -> str:
    return "true" if value.strip() in ("true", "1") else "false"


def taal(value: str) -> str:
    return value.strip() or "nl"  # the contracts' default


def bedrag(value: str) -> str:
    try:
        return str(Decimal(value.strip()).quantize(Decimal("0.01")))
    except InvalidOperation:
        return value


def _extension(f):
    return lambda _context, *args: f(*args)


# Given to each mapping, not registered globally: lxml hands every global extension function
# to every XPath evaluation, and each outbound item's key and recipient lookups paid for it.
EXTENSIONS = {(NS, f.__name__): _extension(f) for f in (parketnummer, boolean, taal, bedrag)}
EXTENSIONS[NS, "ketenreferentie"] = _ketenreferentie


def _compile(tree: etree._ElementTree) -> etree.XSLT:
    if _mac is None and b"ketenreferentie(" in etree.tostring(tree):
        check(None)  # refuse before the first event rather than on it
    return etree.XSLT(tree, extensions=EXTENSIONS, access_control=etree.XSLTAccessControl.DENY_ALL)


def _mapping(path: str) -> etree._ElementTree:
    if not Path(path).is_file():
        raise FileNotFoundError(f"mapping {path} does not exist")
    return parse_trusted(path)


@lru_cache(maxsize=None)
def stylesheet(path: str) -> etree.XSLT:
    return _compile(_mapping(path))


_XSL = "http://www.w3.org/1999/XSL/Transform"


@lru_cache(maxsize=None)
def for_each(path: str) -> etree.XSLT:
    """The mapping run over every child of the document's root element in one call, each
    child's result in an ``each`` element of its own, in order.

    One call per chunk of events instead of one per event: a call's fixed cost is about as
    much as mapping a whole event. This needs mappings whose templates match the event
    element, not the document root. The wrappers are in no namespace and declare none, so a
    result's top element serialises in place as it would on its own."""
    tree = _mapping(path)
    template = etree.SubElement(tree.getroot(), f"{{{_XSL}}}template", match="/", priority="10")
    chunk = etree.SubElement(template, f"{{{_XSL}}}element", name="chunk", namespace="")
    loop = etree.SubElement(chunk, f"{{{_XSL}}}for-each", select="/*/*")
    each = etree.SubElement(loop, f"{{{_XSL}}}element", name="each", namespace="")
    etree.SubElement(each, f"{{{_XSL}}}apply-templates", select=".")
    return _compile(tree)


@lru_cache(maxsize=None)
def results_schema(schema: str, item: str, wrapper: str | None = None) -> etree.XMLSchema:
    """A schema for what ``for_each`` gives: its ``each`` elements holding ``item`` elements
    (Clark name) of the XSD at ``schema``, or ``wrapper`` elements (in no namespace) holding
    them. One validation of a region's results instead of one per document: every call has a
    fixed cost, and the results are nearly always valid (where not, validate one by one)."""
    namespace, name = item[1:].split("}")
    items = f'<xs:element ref="t:{name}" minOccurs="0" maxOccurs="unbounded"/>'
    if wrapper:
        items = (f'<xs:element name="{wrapper}" minOccurs="0" maxOccurs="unbounded"><xs:complexType>'
                 f'<xs:sequence>{items}</xs:sequence></xs:complexType></xs:element>')
    xsd = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="{namespace}">
      <xs:import namespace="{namespace}" schemaLocation="{Path(schema).resolve().as_uri()}"/>
      <xs:element name="chunk"><xs:complexType><xs:sequence>
        <xs:element name="each" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
          {items}
        </xs:sequence></xs:complexType></xs:element>
      </xs:sequence></xs:complexType></xs:element>
    </xs:schema>"""
    return etree.XMLSchema(etree.fromstring(xsd, etree.XMLParser(resolve_entities=False, no_network=True)))


def standalone(element: etree._Element) -> etree._Element:
    """A copy of a result's element that declares only the namespaces it uses: in place, it
    would be serialised with every declaration of its ancestors."""
    element = copy.deepcopy(element)
    etree.cleanup_namespaces(element)
    return element


def serialised(element: etree._Element) -> bytes:
    """A result element as UTF-8 bytes. Serialised as text, then encoded: the same bytes as
    ``encoding="UTF-8"``, in less time."""
    return etree.tostring(element, encoding="unicode").encode()


class MappingError(Exception):
    pass


def transform(path: Path, source, **params: str) -> etree._ElementTree:
    xslt = stylesheet(str(path))
    try:
        return xslt(source, **{k: etree.XSLT.strparam(v) for k, v in params.items()})
    except etree.XSLTApplyError as e:
        raise MappingError(f"mapping {Path(path).name} failed: {e}") from None
