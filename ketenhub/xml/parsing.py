"""Safe XML parsing: no entity is resolved, no DTD loaded, nothing fetched over the network.

Partners' contracts use no DTDs, so a document that declares one is refused outright: that
closes entity-expansion bombs and external entities whatever the parser would do with them.
"""
from __future__ import annotations

import codecs
import difflib
import re

from lxml import etree

from ketenhub.xml.problems import Problem

SAFE = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False)


def parser() -> etree.XMLParser:
    return etree.XMLParser(**SAFE)


def pull_parser(events: tuple[str, ...], tag: str | None = None) -> etree.XMLPullParser:
    return etree.XMLPullParser(events=events, tag=tag, **SAFE)


class _Nothing:
    def close(self) -> None:
        return None


def well_formedness_parser() -> etree.XMLParser:
    """A parser that builds nothing: libxml2 checks well-formedness, about four times faster
    than building (and dropping) the tree. It does not report namespace errors."""
    return etree.XMLParser(target=_Nothing(), **SAFE)


def parse_trusted(path) -> etree._ElementTree:
    """Parse one of the hub's own files (XSD, XSLT) with the same safe settings."""
    return etree.parse(str(path), parser())


def check_dtd(root: etree._Element) -> list[Problem]:
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        return [Problem("no-dtd", "the document declares a DTD (<!DOCTYPE>); the contract uses none and "
                        "the hub refuses DTDs and entities", line=1)]
    return []


_DECLARATION = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def check_encoding(start: bytes) -> list[Problem]:
    """The contracts say UTF-8: refuse another declared encoding or a UTF-16/32 byte order mark."""
    if start.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return [Problem("encoding", "the document is UTF-16 or UTF-32 (byte order mark); the contract "
                        "requires UTF-8", line=1)]
    text = start.removeprefix(b"\xef\xbb\xbf")
    # A document starts with "<" or white space; in UTF-16 or UTF-32 without a byte order mark,
    # or in EBCDIC, it does not (libxml2 would read those too, guessing from the first bytes).
    if text[:1] not in (b"<", b" ", b"\t", b"\r", b"\n") or b"\x00" in text[:4]:
        return [Problem("encoding", "the document is not in UTF-8 (it looks like UTF-16, UTF-32 or EBCDIC "
                        "without a byte order mark); the contract requires UTF-8", line=1)]
    m = _DECLARATION.match(text)
    if m and m[1].decode().upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        try:  # named only if it is an encoding: the declaration may hold anything its pattern allows
            codecs.lookup(m[1].decode())
            declared = f"encoding {m[1].decode()}"
        except LookupError:
            declared = "an encoding the hub does not know"
        return [Problem("encoding", f"the document declares {declared}; the contract requires UTF-8", line=1)]
    return []


# libxml2's well-formedness messages may quote the document: a name (tag, attribute, prefix,
# entity), or text (a comment's, a CDATA section's, a namespace's URI). Names go through
# ``_NAMED`` where the message's code is one that names; any other message is cut before what
# it quotes, or said in words of the hub's own where that cut leaves too little.
_NAMING = {26, 27, 41, 42, 73, 76, 77, 201}  # undeclared entity, attribute, start or end tag, prefix
_NAMED = re.compile(r"(?P<before>tag mismatch: |line \d+ and |in tag |Start Tag |Namespace prefix |for attribute "
                    r"| for (?!attribute )| on |Attribute |Entity ')(?P<name>[^\s',]+)")
# Messages that quote nothing of the document, as libxml2 words them, and the hub's own words for
# others; any other code is named by its number only (deny by default: a message may quote).
_KEPT = {4, 5, 9, 32, 63, 65, 75, 80, 81}
_OWN_WORDS = {23: "an & that starts no reference (write &amp;)", 38: "a < in an attribute value",
              47: "a processing instruction that does not end", 68: "a name is missing (after & or <)",
              99: "a namespace declaration whose value is not a URI",
              200: "a namespace declaration the XML rules forbid",
              202: "a name that is not a valid qualified name", 203: "an attribute given twice in one namespace",
              28: "a reference to an entity the hub does not resolve", 34: "a quoted value that does not end",
              39: "an attribute value without quotes", 78: "a standalone declaration other than yes or no"}
_POSITION = re.compile(r", line \d+, column \d+$")
NOT_IN_CONTRACT = "(a name not in the contract)"


def shown_name(name: str, contract_names: frozenset[str]) -> str:
    """A name from a partner's document as a message may show it: its local part if the contract
    declares it or nearly so (a typo: Sort for Soort), else NOT_IN_CONTRACT, as a name may be a
    value written in the wrong place."""
    local = name.rpartition(":")[2]
    if local in contract_names or difflib.get_close_matches(local, contract_names, 1, 0.8):
        return local
    return NOT_IN_CONTRACT


def syntax_problem(error: etree.XMLSyntaxError, contract_names: frozenset[str] = frozenset()) -> Problem:
    """libxml2's words, without what they quote of the document unless it is a name the
    contract declares (``contract_names``, see xml.schema.declared_names): a misplaced value may
    be quoted as a name or as text, and may be personal data."""
    line = error.position[0] if error.position else None
    msg = error.msg or str(error)
    position = m[0] if (m := _POSITION.search(msg)) else ""
    msg = msg.removesuffix(position)

    if error.code in _NAMING:
        msg = _NAMED.sub(lambda m: m["before"] + shown_name(m["name"], contract_names), msg.split("\n")[0])
    elif error.code in _OWN_WORDS:
        msg = _OWN_WORDS[error.code]
    elif error.code in _KEPT:
        msg = re.split(r"[:\n'\"]", msg)[0].rstrip(" ,.")
    else:
        msg = f"libxml2 error {error.code}"
    return Problem("well-formed", f"the XML is not well-formed: {msg}{position}", line=line)
