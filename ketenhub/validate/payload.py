"""Reading a partner's payload: one pass to check the whole file, one to stream its events.

The first pass reads the file once, in chunks: it keeps a copy (the raw bytes are never lost)
and computes the SHA-256. Then libxml2 checks that the copy is well-formed without building
anything, while the copy is read for where to cut it (see ``_check_well_formed``), and the
first pass checks everything else that concerns the file as a whole (empty, no DTD, UTF-8, root
element and namespace, the envelope against the XSD, the control count). Only a file that
passes is read again, so that no event is stored from a file that turns out to be truncated.

A batch is read again as regions of about CHUNK_EVENTS events: byte ranges that end right
after an event's end tag, so that they need no parsing to be cut and can be parsed where they
are worked on (see pipeline). A plain batch (see ``_flat_batch``) is cut by reading its bytes;
any other is parsed once more, an event at a time, to find where its events end. Memory stays
flat either way.
"""
from __future__ import annotations

import copy
import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator, NamedTuple

from lxml import etree

from ketenhub.adapters import Partner
from ketenhub.validate import parsing
from ketenhub.validate.problems import Problem, element_path
from ketenhub.validate.schema import compile_schema, validate

CHUNK = 1 << 20
CHUNK_EVENTS = 500  # events per region
DROP_BEHIND = 64 << 20  # bytes of a payload read for its regions, then left out of the page cache


class Cut(NamedTuple):
    offset: int  # in bytes, right after an event's end tag
    line: int  # the line that goes on from there
    events: int  # events before it


class Region(NamedTuple):
    """Events of a batch as they are in the file, with the whole of each event."""
    data: bytes
    line: int  # in the file, of data's first byte
    events: int
    head: bytes  # the root and header to parse data under (empty for the file's start, which has them)
    tail: bytes  # the root's end tag


@dataclass
class Scan:
    sha256: str
    size: int
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    batch: bool = False  # the root is the batch root, not a single event
    cuts: list[Cut] | None = None  # where to cut a batch into regions; None: not possible
    envelope: tuple[bytes, bytes] = (b"", b"")  # to parse a region between: see _envelope_parts


class _Cutter:
    """Feeds the parser of ``_parsed``, and keeps a cut about every CHUNK_EVENTS events: at a
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
    """``source``, or ``copy_to`` if given (opened for reading too), is read a second time: a
    copy, so that the cuts are those of the bytes kept, even if the source changed meanwhile."""
    digest = hashlib.sha256()
    size = 0
    head = parsing.pull_parser(events=("start",))  # reports only the first element: the root
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

    while chunk := source.read(CHUNK):
        size += len(chunk)
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        if size == len(chunk):
            problems.extend(parsing.check_encoding(chunk))
            parsing_ok = not problems
        if parsing_ok and head is not None:
            try:
                find_root(chunk)
            except etree.XMLSyntaxError as e:
                problems.append(parsing.syntax_problem(e))
                parsing_ok = False
    result = Scan(digest.hexdigest(), size, 0, problems)
    if size == 0:
        problems.append(Problem("empty", "the file is empty"))
        return result
    if not parsing_ok:
        return result
    try:
        if head is not None:
            head.close()  # a document too short to have reported its root: say why
        if copy_to is not None:
            copy_to.flush()
        again = copy_to if copy_to is not None else source
        well_formed = _check_well_formed(again)
        flat = _flat_batch(partner, again, root) if root is not None and root.tag == partner.batch_root else None
        well_formed()
        if flat is not None:
            result.events, result.cuts, envelope = flat
        else:  # what the plain reading cannot vouch for, a parse that keeps the envelope can
            again.seek(0)
            result.events, result.cuts, envelope = _parsed(partner, again)
    except etree.XMLSyntaxError as e:
        problems.append(parsing.syntax_problem(e))
        return result
    if envelope is None:
        problems.append(Problem("well-formed", "the file holds no XML element"))
        return result
    if envelope.tag == partner.event:
        result.events, result.cuts = 1, None
    else:
        result.batch = True
        result.envelope = _envelope_parts(envelope)
        # The envelope (header without its events) must itself be valid.
        problems.extend(validate(compile_schema(str(schema_path)), envelope))
        if partner.batch_count and not problems:
            counter = envelope.find(f".//{partner.batch_count}")
            declared = int(counter.text)
            if declared != result.events:
                problems.append(Problem("control-count", f"the header says {declared} events but the file "
                                        f"holds {result.events}", line=counter.sourceline,
                                        element=element_path(counter)))
        if partner.batch_sender and not problems:
            sender = envelope.find(f".//{partner.batch_sender}")
            if sender.text.strip() != partner.oin:
                problems.append(Problem("sender", f"the header names sender OIN {sender.text.strip()}; "
                                        f"{partner.name} is {partner.oin}", line=sender.sourceline,
                                        element=element_path(sender)))
    return result


def _check_well_formed(f: IO[bytes]) -> Callable[[], None]:
    """Has libxml2 check that the whole of ``f`` is well-formed, building nothing (a quarter of
    the cost of building and dropping it); returns a call that waits for the check and raises
    the error it found. A file on disk is checked on a thread of its own, beside the reading
    that cuts it (``_flat_batch``): libxml2 then reads the file itself and lxml lets go of the
    GIL meanwhile, where a parser fed from Python holds it. That check only says whether the
    file is well-formed (its errors name no line, and some are not even syntax errors), so a
    file it refuses is fed through again, which says where and why."""
    path = getattr(f, "name", None)
    if not (isinstance(path, str) and os.path.isfile(path)):
        _feed_well_formedness(f)
        return lambda: None
    refused = []

    def check() -> None:
        try:
            etree.parse(path, parsing.well_formedness_parser())
        except Exception as e:  # an encoding error, say, is an OSError here
            refused.append(e)

    thread = threading.Thread(target=check, name="well-formedness", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if refused:
            _feed_well_formedness(f)
    return wait


def _feed_well_formedness(f: IO[bytes]) -> None:
    f.seek(0)
    checker = parsing.well_formedness_parser()
    while chunk := f.read(CHUNK):
        checker.feed(chunk)
    checker.close()


def _envelope_parts(envelope: etree._Element) -> tuple[bytes, bytes]:
    """What to parse a region of events between: the batch's root with its header (the envelope
    without its events), and the root's end tag. A region so parsed is a batch of its own,
    validated against the partner's XSD at once (see processing)."""
    marked = copy.deepcopy(envelope)
    marked.append(etree.Comment(" events "))  # where the events go
    head, tail = etree.tostring(marked).rsplit(b"<!-- events -->", 1)
    return head, tail


def _parsed(partner: Partner, source: IO[bytes]) -> tuple[int, list[Cut] | None, etree._Element | None]:
    """Events, cuts and envelope by a parse that builds each event and drops it again: for
    any file that ``_flat_batch`` cannot vouch for. It also finds namespace errors, which a
    parse that builds nothing does not report."""
    # Only the ends of events are reported, so that Python sees one event per event and not
    # one per element.
    parser = parsing.pull_parser(events=("end",), tag=partner.event)

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
        cutter.feed(chunk)
    cuts = cutter.close()
    root = parser.close()
    events = cutter.events + consume()
    return events, (cuts if events == cutter.events else None), root


# Every byte but these is deleted before looking for markup that could hide an end tag or bind
# a name otherwise (see _marked).
_NOT_MARKUP = bytes(sorted(set(range(256)) - set(b"<>:!?")))
_SPACE = b" \t\r\n"


def _flat_batch(partner: Partner, source: IO[bytes], root: etree._Element) \
        -> tuple[int, list[Cut], etree._Element] | None:
    """Events, cuts and envelope of a batch read as bytes, without parsing its events again;
    None unless the file is plainly a flat list of events. That is what partners send, and it
    is four times cheaper than a parse that builds the events (which a parse that builds nothing,
    done by then, has shown to be well-formed). Plainly flat means:

    - the root declares only the partner's namespace, as the default one, and nothing after
      the first event's start tag declares one, uses a prefix, or is a comment, CDATA section,
      processing instruction or DTD: so every ``</Event>`` text is an end tag in that namespace;
    - everything before the first ``<Event>`` parses as the envelope once the root is closed,
      with no element of the event's name in it: so that event is the root's first;
    - the event's name occurs only in ``<Event>`` and ``</Event>`` tags, as many of each, with
      the same white space between every end tag and the next start tag, and only white space
      and the root's end tag after the last one: so the events are siblings, none inside another.
    """
    if root.nsmap != {None: partner.namespace}:
        return None
    local = etree.QName(partner.event).localname.encode()
    start, end = b"<" + local + b">", b"</" + local + b">"
    root_end = b"</" + etree.QName(root).localname.encode() + b">"
    source.seek(0)
    head = source.read(CHUNK)
    first = head.find(start)
    after_first = head.find(end, first) + len(end)
    if first < 0 or after_first < len(end):  # no event in the first CHUNK, or one longer than that
        return None
    size = source.seek(0, os.SEEK_END)
    source.seek(max(0, size - CHUNK))
    tail = source.read()
    last = tail.rfind(end)
    if last < 0 or tail[last + len(end):].strip(_SPACE) != root_end:
        return None
    body_end = size - len(tail) + last + len(end)
    try:
        envelope = etree.fromstring(head[:first] + root_end, parsing.parser())
    except etree.XMLSyntaxError:
        return None
    if next(envelope.iter(f"{{*}}{local.decode()}"), None) is not None:  # an event written otherwise
        return None
    following = head.find(start, after_first)
    sep = head[after_first:following] if after_first < body_end else b""
    if after_first < body_end and (following < 0 or sep.strip(_SPACE)):
        return None
    sample = head[first:]
    step = CHUNK_EVENTS * len(sample) // max(1, sample.count(end))  # bytes per region

    cuts, lines, starts, names, between = [Cut(0, 1, 0)], 1, 0, 0, 0
    source.seek(0)
    data, data_at = b"", 0  # the file's bytes from data_at on, as far as read
    while cuts[-1].offset < body_end:
        prev = cuts[-1].offset
        data, data_at = data[prev - data_at:], prev
        look = max(prev, first) + step - data_at
        while (i := data.find(end, max(0, look))) < 0 and data_at + len(data) < body_end:
            if not (more := source.read(CHUNK)):
                return None  # shorter than it was a moment ago
            data += more
        cut = data_at + i + len(end) if i >= 0 and data_at + i < body_end else body_end
        piece = data[:cut - data_at]
        body = piece[max(0, first - prev):]
        if _marked(body) or b"xmlns" in body:
            return None
        starts += body.count(start)
        names += body.count(local)
        between += body.count(end + sep + start) + (prev > 0 and body.startswith(sep + start))
        lines += piece.count(b"\n")
        cuts.append(Cut(cut, lines, cuts[-1].events + body.count(end)))
    events = cuts[-1].events
    if not (starts == events and names == 2 * events and between == events - 1):
        return None
    return events, cuts, envelope


def _marked(body: bytes) -> bool:
    """Whether ``body`` may hold a comment, CDATA section, DTD or processing instruction (``<!``,
    ``<?``), a prefixed name (a ``:`` inside a tag) or a ``>`` in a text or an attribute value.
    Erring towards yes is safe: it only sends the file to the parsed path. Of each tag only its
    ``<`` and ``>`` and those characters are left, so a plain tag leaves ``<>``; with those pairs
    gone, a plain body leaves only the ``:!?`` of its texts. A body where anything else is left
    is marked: a ``<`` not followed by its ``>`` (``<:``, ``<!``, ``<?``), or a ``>`` that
    closes no tag. 0.9 ns a byte, where looking for ``<:``, ``<!`` and ``<?`` one by one took 1.3."""
    return bool(body.translate(None, _NOT_MARKUP).replace(b"<>", b"").translate(None, b":!?"))


def regions(path: Path, scanned: Scan) -> Iterator[Region]:
    """The batch's events as regions (``scanned.cuts`` must be set): read, not parsed. What has
    been read is dropped from the page cache as the reading goes on: read once, the kept copy
    need not hold memory that the store's pages can use (on a new VM a page never used before
    costs ten times one used before, and a million events write gigabytes)."""
    head, tail = scanned.envelope
    with open(path, "rb") as f:
        dropped = 0
        for a, b in zip(scanned.cuts, scanned.cuts[1:]):
            f.seek(a.offset)
            yield Region(f.read(b.offset - a.offset), a.line, b.events - a.events, head if a.offset else b"", tail)
            if b.offset - dropped >= DROP_BEHIND and hasattr(os, "posix_fadvise"):  # not on macOS
                os.posix_fadvise(f.fileno(), 0, b.offset, os.POSIX_FADV_DONTNEED)
                dropped = b.offset


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
