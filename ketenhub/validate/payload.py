"""Reading a partner's payload: one pass to check the whole file, one to stream its events.

The first pass reads the file once, in chunks: it keeps a copy (the raw bytes are never lost),
computes the SHA-256, and parses without keeping events, to check everything that concerns
the file as a whole (empty, well-formed, no DTD, UTF-8, root element and namespace, the
envelope against the XSD, the control count). Only a file that passes is streamed again,
event by event, so that no event is stored from a file that turns out to be truncated.
Memory stays flat: events are discarded as soon as they are seen.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from lxml import etree

from ketenhub.adapters import Partner
from ketenhub.validate import parsing
from ketenhub.validate.problems import Problem, element_path
from ketenhub.validate.schema import compile_schema, validate

CHUNK = 1 << 20


@dataclass
class Scan:
    sha256: str
    size: int
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    batch: bool = False  # the root is the batch root, not a single event


def _name(tag: str) -> str:
    return etree.QName(tag).localname + f" (namespace {etree.QName(tag).namespace or 'none'})"


def scan(partner: Partner, schema_path: Path, source: IO[bytes], copy_to: IO[bytes] | None = None) -> Scan:
    digest = hashlib.sha256()
    size = 0
    # Two parsers: one that reports only the first element (the root, whatever its name),
    # and one that reports only the ends of events, so that Python sees one event per event
    # and not one per element.
    head = parsing.pull_parser(events=("start",))
    parser = parsing.pull_parser(events=("end",), tag=partner.event)
    root = None
    events = 0
    problems: list[Problem] = []
    parsing_ok = True

    def find_root(chunk: bytes):
        nonlocal root, head, parsing_ok
        # The root comes early: small pieces, so that the file's start is not parsed twice.
        for i in range(0, len(chunk), 4096):
            head.feed(chunk[i:i + 4096])
            first = next(head.read_events(), None)
            if first is not None:
                break
        else:
            return
        root, head = first[1], None
        problems.extend(parsing.check_dtd(root))
        if root.tag not in (partner.event, partner.batch_root):
            expected = " or ".join(_name(t) for t in (partner.batch_root, partner.event) if t)
            problems.append(Problem(
                "root", f"the root element is {_name(root.tag)}; {partner.name} sends {expected}",
                line=root.sourceline, element="/" + etree.QName(root).localname))
        parsing_ok = not problems

    def consume():
        nonlocal events
        for _, el in parser.read_events():
            parent = el.getparent()
            if parent is not None and parent.getparent() is None:
                events += 1
                parent.remove(el)  # keep only the envelope in memory

    while chunk := source.read(CHUNK):
        size += len(chunk)
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        if size == len(chunk):
            problems.extend(parsing.check_encoding(chunk))
            parsing_ok = not problems
        if parsing_ok:
            try:
                if head is not None:
                    find_root(chunk)
                if parsing_ok:
                    parser.feed(chunk)
                    consume()
            except etree.XMLSyntaxError as e:
                problems.append(parsing.syntax_problem(e))
                parsing_ok = False
    result = Scan(digest.hexdigest(), size, events, problems)
    if size == 0:
        problems.append(Problem("empty", "the file is empty"))
        return result
    if not parsing_ok:
        return result
    try:
        if head is not None:
            head.close()  # a document too short to have reported its root: say why
        root = parser.close()
        consume()
    except etree.XMLSyntaxError as e:
        problems.append(parsing.syntax_problem(e))
        return result
    if root is None:
        problems.append(Problem("well-formed", "the file holds no XML element"))
        return result
    if root.tag == partner.event:
        result.events = 1
    else:
        result.batch = True
        # The envelope (header without its events) must itself be valid.
        problems.extend(validate(compile_schema(str(schema_path)), root))
        if partner.batch_count and not problems:
            counter = root.find(f".//{partner.batch_count}")
            declared = int(counter.text)
            if declared != events:
                problems.append(Problem("control-count", f"the header says {declared} events but the file "
                                        f"holds {events}", line=counter.sourceline, element=element_path(counter)))
        if partner.batch_sender and not problems:
            sender = root.find(f".//{partner.batch_sender}")
            if sender.text.strip() != partner.oin:
                problems.append(Problem("sender", f"the header names sender OIN {sender.text.strip()}; "
                                        f"{partner.name} is {partner.oin}", line=sender.sourceline,
                                        element=element_path(sender)))
    return result


def iter_events(partner: Partner, path: Path) -> Iterator[etree._Element]:
    """Stream the events of a file that passed ``scan``; each is discarded after use."""
    with open(path, "rb") as f:
        context = etree.iterparse(f, events=("end",), tag=partner.event, **parsing.SAFE)
        for _, el in context:
            yield el
            parent = el.getparent()
            if parent is not None:
                while el.getprevious() is not None:  # the envelope's header
                    del parent[0]
                parent.remove(el)
        del context


def read_marker(text: str) -> str | None:
    """The hex digest from a .sha256 marker ('<hex>' or '<hex>  <name>' as sha256sum writes)."""
    parts = text.strip().split()
    if parts and len(parts[0]) == 64 and all(c in "0123456789abcdefABCDEF" for c in parts[0]):
        return parts[0].lower()
    return None
