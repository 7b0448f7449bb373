"""Reading a partner's payload: one pass to check the whole file, one to stream its events.

The first pass reads the file once, in chunks: it keeps a copy (the raw bytes are never lost),
computes the SHA-256, and parses without keeping events, to check everything that concerns
the file as a whole (empty, well-formed, no DTD, UTF-8, root element and namespace, the
envelope against the XSD, the control count). Only a file that passes is read again, so that
no event is stored from a file that turns out to be truncated. Memory stays flat: events are
discarded as soon as they are seen.

A batch is read again as regions of about CHUNK_EVENTS events: byte ranges that the first
pass found to end right after an event's end tag, so that they need no parsing to be cut
and can be parsed where they are worked on (see pipeline).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator, NamedTuple

from lxml import etree

from ketenhub.adapters import Partner
from ketenhub.validate import parsing
from ketenhub.validate.problems import Problem, element_path
from ketenhub.validate.schema import compile_schema, validate

CHUNK = 1 << 20
CHUNK_EVENTS = 500  # events per region


class Cut(NamedTuple):
    offset: int  # in bytes, right after an event's end tag
    line: int  # the line that goes on from there
    events: int  # events before it


class Region(NamedTuple):
    """Events of a batch as they are in the file, with the whole of each event."""
    data: bytes
    line: int  # in the file, of data's first byte
    events: int
    head: bytes  # the root's start tag to parse data under (empty for the file's start, which has it)
    tail: bytes  # the root's end tag


@dataclass
class Scan:
    sha256: str
    size: int
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    batch: bool = False  # the root is the batch root, not a single event
    cuts: list[Cut] | None = None  # where to cut a batch into regions; None: not possible
    envelope: tuple[bytes, bytes] = (b"", b"")  # the root's start and end tag


class _Cutter:
    """Feeds the first pass's parser, and keeps a cut about every CHUNK_EVENTS events: at a
    text that looks like an event's end tag, fed to the parser on its own, for which the
    parser then reported exactly one event's end. A look-alike in a comment, CDATA section
    or processing instruction is never a cut."""

    PIECE = 1 << 16  # fed at a time: a cut comes at most this much after CHUNK_EVENTS events
    HOLD = 1 << 16  # kept back, to find the last event's end in when the file ends

    def __init__(self, partner: Partner, feed):
        local = re.escape(etree.QName(partner.event).localname.encode())
        self.end_tag = re.compile(rb"</(?:[^\s<>/:]+:)?" + local + rb"\s*>")
        self.parse = feed  # bytes -> number of events that ended
        self.held = b""
        self.offset, self.lines, self.events = 0, 0, 0
        self.cuts = [Cut(0, 1, 0)]

    def feed(self, data: bytes) -> None:
        data = self.held + data
        self.held = data[-self.HOLD:]
        data = data[:-self.HOLD]
        for i in range(0, len(data), self.PIECE):
            piece, pos = data[i:i + self.PIECE], 0
            while self.events - self.cuts[-1].events >= CHUNK_EVENTS and (m := self.end_tag.search(piece, pos)):
                pos = self._try(piece, pos, m)
            self._piece(piece[pos:])

    def close(self) -> list[Cut] | None:
        """Feeds the rest; the cuts, the last one right after the last event, or None if
        that end cannot be found so (a batch that ends in look-alikes)."""
        last = None
        for last in self.end_tag.finditer(self.held):
            pass
        pos = self._try(self.held, 0, last) if last else 0
        self._piece(self.held[pos:])
        if self.cuts[-1].events != self.events or len(self.cuts) < 2:
            return None
        return self.cuts

    def _try(self, data: bytes, pos: int, m: re.Match) -> int:
        self._piece(data[pos:m.start()])
        if self._piece(data[m.start():m.end()]) == 1:
            self.cuts.append(Cut(self.offset, self.lines + 1, self.events))
        return m.end()

    def _piece(self, piece: bytes) -> int:
        ended = self.parse(piece)
        self.events += ended
        self.offset += len(piece)
        self.lines += piece.count(b"\n")
        return ended


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

    def consume() -> int:
        ended = 0
        for _, el in parser.read_events():
            parent = el.getparent()
            if parent is not None and parent.getparent() is None:
                ended += 1
                parent.remove(el)  # keep only the envelope in memory
        return ended

    def feed(piece: bytes) -> int:
        parser.feed(piece)
        return consume()

    cutter = _Cutter(partner, feed)

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
                    cutter.feed(chunk)
            except etree.XMLSyntaxError as e:
                problems.append(parsing.syntax_problem(e))
                parsing_ok = False
    result = Scan(digest.hexdigest(), size, cutter.events, problems)
    if size == 0:
        problems.append(Problem("empty", "the file is empty"))
        return result
    if not parsing_ok:
        return result
    try:
        if head is not None:
            head.close()  # a document too short to have reported its root: say why
        cuts = cutter.close()
        root = parser.close()
        result.events = cutter.events + consume()
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
        result.cuts = cuts if result.events == cutter.events else None
        envelope = etree.Element(root.tag, nsmap=root.nsmap)
        envelope.text = ""  # serialised as a start and an end tag
        start, end = etree.tostring(envelope).split(b"><", 1)
        result.envelope = (start + b">", b"<" + end)
        # The envelope (header without its events) must itself be valid.
        problems.extend(validate(compile_schema(str(schema_path)), root))
        if partner.batch_count and not problems:
            counter = root.find(f".//{partner.batch_count}")
            declared = int(counter.text)
            if declared != result.events:
                problems.append(Problem("control-count", f"the header says {declared} events but the file "
                                        f"holds {result.events}", line=counter.sourceline,
                                        element=element_path(counter)))
        if partner.batch_sender and not problems:
            sender = root.find(f".//{partner.batch_sender}")
            if sender.text.strip() != partner.oin:
                problems.append(Problem("sender", f"the header names sender OIN {sender.text.strip()}; "
                                        f"{partner.name} is {partner.oin}", line=sender.sourceline,
                                        element=element_path(sender)))
    return result


def regions(path: Path, scanned: Scan) -> Iterator[Region]:
    """The batch's events as regions (``scanned.cuts`` must be set): read, not parsed."""
    head, tail = scanned.envelope
    with open(path, "rb") as f:
        for a, b in zip(scanned.cuts, scanned.cuts[1:]):
            f.seek(a.offset)
            yield Region(f.read(b.offset - a.offset), a.line, b.events - a.events, head if a.offset else b"", tail)


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
