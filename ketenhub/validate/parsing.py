"""Safe XML parsing: no entity is resolved, no DTD loaded, nothing fetched over the network.

Partners' contracts use no DTDs, so a document that declares one is refused outright: that
closes entity-expansion bombs and external entities whatever the parser would do with them.
"""
from __future__ import annotations

from lxml import etree

from ketenhub.validate.problems import Problem

SAFE = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False)


def parser() -> etree.XMLParser:
    return etree.XMLParser(**SAFE)


def pull_parser(events=("start", "end")) -> etree.XMLPullParser:
    return etree.XMLPullParser(events=events, **SAFE)


def parse_trusted(path) -> etree._ElementTree:
    """Parse one of the hub's own files (XSD, XSLT) with the same safe settings."""
    return etree.parse(str(path), parser())


def check_prolog(root: etree._Element) -> list[Problem]:
    """Checks on what precedes the root element: DTD and declared encoding."""
    info = root.getroottree().docinfo
    problems = []
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        problems.append(Problem(
            "no-dtd", "the document declares a DTD (<!DOCTYPE>); the contract uses none and the hub "
            "refuses DTDs and entities", line=1))
    if info.encoding and info.encoding.upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        problems.append(Problem(
            "encoding", f"the document declares encoding {info.encoding}; the contract requires UTF-8", line=1))
    return problems


def syntax_problem(error: etree.XMLSyntaxError) -> Problem:
    line = error.position[0] if error.position else None
    msg = error.msg or str(error)
    # libxml2 quotes element names, not values, in well-formedness errors; keep its words.
    return Problem("well-formed", f"the XML is not well-formed: {msg}", line=line)
