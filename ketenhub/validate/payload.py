"""Reading a partner's payload: one pass to check the whole file, one to stream its events.

The first pass reads the file once, in chunks: it keeps a copy (the raw bytes are never lost)
and computes the SHA-256. Then libxml2 checks that the copy is well-formed without building
anything, while the copy is read for where to cut it (see ``_check_well_formed``), and the
first pass checks everything else that concerns the file as a whole (empty, no DTD, UTF-8, root
element and namespace, the envelope against the XSD, the control count). Only a file that
passes is read again, so that no event is stored from a file that turns out to be truncated.

A payload is read again as regions of about ``Tuning.region_events`` events: byte ranges that end right
after an event's end tag, so that they need no parsing to be cut and can be parsed where they
are worked on (see pipeline). The events are only the elements at the contract's event
position: the batch root's children of the event's name, or the root itself where it is the
event; an element of that name anywhere else is part of the event it is in. A plain batch (see
``_flat_batch``) is cut by reading its bytes; any other is read by expat (``_layout``), which
tells at which byte each element starts and ends. Memory stays flat either way.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator, NamedTuple

from lxml import etree
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from ketenhub.adapters import Partner
from ketenhub.settings import Tuning
from ketenhub.xml import parsing
from ketenhub.xml.parsing import shown_name
from ketenhub.xml.problems import Problem, element_path
from ketenhub.xml.schema import compile_schema, declared_names, problems_of

CHUNK = 1 << 20
MAX_ENVELOPE = CHUNK  # bytes of a batch besides its events: a header is small


class Cut(NamedTuple):
    offset: int  # in bytes, right after an event's end tag
    line: int  # the line that goes on from there
    events: int  # events before it


class Region(NamedTuple):
    """Events of a payload as they are in the file, with the whole of each event: a document of
    one event is a region of one."""
    data: bytes
    line: int  # in the file, of data's first byte
    events: int
    head: bytes  # the root and header to parse data under (empty for the file's start, which has them)
    tail: bytes  # what follows the events in the batch, and the root's end tag
    plain: bool = False  # see Scan.plain
    oversize: bool = False  # data is one event, larger than the partner takes: not to be parsed
    json: bool = False  # data lists [index, line, text as sent] of JSON events; line: the first's index


@dataclass
class Scan:
    sha256: str
    size: int
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    batch: bool = False  # the root is the batch root, not a single event
    cuts: list[Cut] = field(default_factory=list)  # where to cut the payload into regions
    envelope: tuple[bytes, bytes] = (b"", b"")  # to parse a region between: see _envelope_parts
    plain: bool = False  # read by _flat_batch: each event is <Event>...</Event>, nothing else has its name
    oversize: frozenset[int] = frozenset()  # see Layout
    json_events: str | None = None  # a JSON page: the member holding its events (validate.jsonpage)


def _name(tag: str, partner: Partner | None = None, names: frozenset[str] = frozenset()) -> str:
    """An element's name and namespace; of the partner's document (``partner`` given) only what
    its contract declares (``names``) or nearly, and only the contract's namespace."""
    q = etree.QName(tag)
    if partner is None:
        return f"{q.localname} (namespace {q.namespace or 'none'})"
    where = (f"namespace {q.namespace or 'none'}" if q.namespace in (None, partner.namespace)
             else "in a namespace the contract does not have")
    return f"{shown_name(q.localname, names)} ({where})"


def scan(partner: Partner, schema_path: Path, source: IO[bytes], copy_to: IO[bytes] | None = None,
         tuning: Tuning = Tuning(), well_formed: bool = False) -> Scan:
    """``source``, or ``copy_to`` if given (opened for reading too), is read a second time: a
    copy, so that the cuts are those of the bytes kept, even if the source changed meanwhile.
    ``well_formed``: the bytes are lxml's serialisation of a parsed tree (``Incoming.well_formed``),
    not checked again."""
    if partner.format == "json":
        from ketenhub.validate import jsonpage
        return jsonpage.scan(partner, schema_path, source, copy_to, tuning)
    digest = hashlib.sha256()
    size = 0
    head = parsing.pull_parser(events=("start",))  # reports only the first element: the root
    root = None
    problems: list[Problem] = []
    parsing_ok = True
    names = declared_names(str(schema_path))  # what a problem may name of the document (cached)

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
                "root", f"the root element is {_name(root.tag, partner, names)}; {partner.name} sends {expected}",
                line=root.sourceline, element="/" + shown_name(etree.QName(root).localname, names)))
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
                problems.append(parsing.syntax_problem(e, names))
                parsing_ok = False
    result = Scan(digest.hexdigest(), size, 0, problems)
    if size == 0:
        problems.append(Problem("empty", "the file is empty"))
        return result
    if size > partner.limits.payload_bytes:
        problems.append(Problem("size", f"the file is {size} bytes long; the hub takes at most "
                                f"{partner.limits.payload_bytes} from {partner.name} (adapter setting "
                                "limits.payload_bytes)"))
        return result
    if not parsing_ok:
        return result
    try:
        if head is not None:
            head.close()  # a document too short to have reported its root: say why
        if copy_to is not None:
            copy_to.flush()
        again = copy_to if copy_to is not None else source
        checked = (lambda: None) if well_formed else _check_well_formed(again)
        layout = _flat_batch(partner, again, root, tuning) if root.tag == partner.batch_root else None
        checked()
        result.plain = layout is not None
        if layout is None:  # what the plain reading cannot vouch for, the event reader can
            layout = _layout(partner, again, root.tag == partner.event, tuning, names)
    except etree.XMLSyntaxError as e:
        problems.append(parsing.syntax_problem(e, names))
        return result
    result.events, result.cuts, result.oversize = layout.events, layout.cuts, layout.oversize
    if layout.envelope is None:  # the root is the event
        return result
    result.batch = True
    if layout.problems:
        problems.extend(layout.problems)
        return result
    envelope = etree.fromstring(layout.envelope, parsing.parser())
    result.envelope = _envelope_parts(envelope, layout.before)
    problems.extend(_envelope_problems(partner, schema_path, envelope, layout))
    if partner.batch_count and not problems:
        counter = envelope.find(f".//{partner.batch_count}")
        declared = int(counter.text)
        if declared != result.events:
            # None at all: more likely the adapter's event: names another element than the file's
            named = f" {_name(partner.event)} elements (the adapter's event:)" if result.events == 0 else ""
            problems.append(Problem("control-count", f"the header says {declared} events but the file "
                                    f"holds {result.events}{named}", line=counter.sourceline,
                                    element=element_path(counter)))
    if partner.batch_sender and not problems:
        sender = envelope.find(f".//{partner.batch_sender}")
        if sender.text.strip() != partner.oin:
            problems.append(Problem("sender", f"the header names sender OIN {sender.text.strip()}; "
                                    f"{partner.name} is {partner.oin}", line=sender.sourceline,
                                    element=element_path(sender)))
    return result


class Layout(NamedTuple):
    """Where a payload's events are, found without parsing them into trees."""
    events: int
    cuts: list[Cut]
    envelope: bytes | None  # the batch without its events; None where the root is the event
    before: int = 0  # elements of the envelope that come before the events
    problems: list[Problem] = []  # about where the events stand
    oversize: frozenset[int] = frozenset()  # events (by number) larger than the partner takes, each a region


def _envelope_problems(partner: Partner, schema_path: Path, envelope: etree._Element, layout: Layout) \
        -> list[Problem]:
    """The envelope must be valid with its events in their place: an empty stand-in event is put
    where the events stood, so that the XSD also says whether they may stand there. What it
    finds inside the stand-in is not the envelope's (the events are each validated on their own)."""
    skeleton = copy.deepcopy(envelope)
    if layout.events:
        _insert(skeleton, layout.before, etree.Element(partner.event))  # line 0: it was never in the file
    schema = compile_schema(str(schema_path))
    if schema.validate(skeleton):
        return []
    local = etree.QName(partner.event).localname
    problems = []
    for entry in schema.error_log:
        if entry.line:
            problems += problems_of(skeleton, [entry], names=declared_names(str(schema_path)))  # the envelope's own
        elif "This element is not expected" in entry.message:
            problems.append(Problem("structure", f"the events ({local}) stand where the contract does not "
                                    "allow them", element=element_path(skeleton)))
    return problems


def _insert(root: etree._Element, before: int, node) -> None:
    """Put ``node`` in front of the ``before``-th element child of ``root`` (or last)."""
    elements = [el for el in root if isinstance(el.tag, str)]
    if before < len(elements):
        elements[before].addprevious(node)
    else:
        root.append(node)


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

    def wait() -> None:
        if thread is not None:
            thread.join()
        else:
            check()
        if refused:
            _feed_well_formedness(f)

    # A small file is checked when asked, here: starting a thread cost more than the check.
    thread = None
    if os.path.getsize(path) > CHUNK:
        thread = threading.Thread(target=check, name="well-formedness", daemon=True)
        thread.start()
    return wait


def _feed_well_formedness(f: IO[bytes]) -> None:
    f.seek(0)
    checker = parsing.well_formedness_parser()
    while chunk := f.read(CHUNK):
        checker.feed(chunk)
    checker.close()


def _envelope_parts(envelope: etree._Element, before: int) -> tuple[bytes, bytes]:
    """What to parse a region of events between: the batch's root with what comes before its
    events, and what comes after them with the root's end tag. A region so parsed is a batch of
    its own, validated against the partner's XSD at once (see processing)."""
    marked = copy.deepcopy(envelope)
    for node in marked.xpath("comment() | processing-instruction()"):
        marked.remove(node)
    _insert(marked, before, etree.Comment(" events "))  # where the events go
    head, tail = etree.tostring(marked).rsplit(b"<!-- events -->", 1)
    return head, tail


# Every byte but these is deleted before looking for markup that could hide an end tag or bind
# a name otherwise (see _marked).
_NOT_MARKUP = bytes(sorted(set(range(256)) - set(b"<>:!?")))
_SPACE = b" \t\r\n"


def _flat_batch(partner: Partner, source: IO[bytes], root: etree._Element, tuning: Tuning) -> Layout | None:
    """Where the events of a batch are, read from its bytes without parsing them again;
    None unless the file is plainly a flat list of events. That is what partners send, and it
    is four times cheaper than a parse that builds the events (which a parse that builds nothing,
    done by then, has shown to be well-formed). Plainly flat means:

    - the root declares only the partner's namespace, as the default one, and nothing after
      the first event's start tag declares one, uses a prefix, or is a comment, CDATA section,
      processing instruction or DTD: so every ``</Event>`` text is an end tag in that namespace;
    - everything before the first ``<Event>`` parses as the envelope once the root is closed,
      with no element of the event's name in it: so that event is the root's first;
    - the event's name occurs only in ``<Event>`` and ``</Event>`` tags, as many of each, with
      the same white space between every end tag and the next start tag: so the events are
      siblings, none inside another;
    - what follows the last event is the root's end tag, after elements of the root that are no
      events (Politie's ``MeerBeschikbaar``) and hold none of the above, if any.
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
    trailer = tail[last + len(end):] if last >= 0 else b""
    following_events = trailer.rstrip(_SPACE).removesuffix(root_end)  # the root's elements after its events
    if last < 0 or len(following_events) == len(trailer.rstrip(_SPACE)) or local in following_events \
            or _marked(following_events) or b"xmlns" in following_events:
        return None
    body_end = size - len(tail) + last + len(end)
    try:
        envelope = etree.fromstring(head[:first] + root_end, parsing.parser())
        etree.fromstring(head[:first] + trailer, parsing.parser())  # what follows the events is the root's
    except etree.XMLSyntaxError:
        return None
    if next(envelope.iter(f"{{*}}{local.decode()}"), None) is not None:  # an event written otherwise
        return None
    following = head.find(start, after_first)
    sep = head[after_first:following] if after_first < body_end else b""
    if after_first < body_end and (following < 0 or sep.strip(_SPACE)):
        return None
    sample = head[first:]
    step = min(tuning.region_bytes, tuning.region_events * len(sample) // max(1, sample.count(end)))

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
        if len(body) > partner.limits.event_bytes and max(map(len, body.split(end))) > partner.limits.event_bytes:
            return None  # an event too large to parse: the event reader gives it a region of its own
        starts += body.count(start)
        names += body.count(local)
        between += body.count(end + sep + start) + (prev > 0 and body.startswith(sep + start))
        lines += piece.count(b"\n")
        cuts.append(Cut(cut, lines, cuts[-1].events + body.count(end)))
    events = cuts[-1].events
    if not (starts == events and names == 2 * events and between == events - 1):
        return None
    before = sum(1 for el in envelope if isinstance(el.tag, str))
    return Layout(events, cuts, head[:first] + tail[last + len(end):], before)


def _marked(body: bytes) -> bool:
    """Whether ``body`` may hold a comment, CDATA section, DTD or processing instruction (``<!``,
    ``<?``), a prefixed name (a ``:`` inside a tag) or a ``>`` in a text or an attribute value.
    Erring towards yes is safe: it only sends the file to the parsed path. Of each tag only its
    ``<`` and ``>`` and those characters are left, so a plain tag leaves ``<>``; with those pairs
    gone, a plain body leaves only the ``:!?`` of its texts. A body where anything else is left
    is marked: a ``<`` not followed by its ``>`` (``<:``, ``<!``, ``<?``), or a ``>`` that
    closes no tag. 0.9 ns a byte, where looking for ``<:``, ``<!`` and ``<?`` one by one took 1.3."""
    return bool(body.translate(None, _NOT_MARKUP).replace(b"<>", b"").translate(None, b":!?"))


def _end_tag(event: str) -> re.Pattern:
    """The event's end tag; its group is None where its ">" is not (yet) in the bytes."""
    local = re.escape(etree.QName(event).localname.encode())
    return re.compile(rb"</(?:[^\s<>/:]+:)?" + local + rb"(?=[\s>])(\s*>)?")


def _end_of(data: bytes, end_index: int, end_tag: re.Pattern) -> int:
    """Where an event ends, from the byte index expat gives at its end: that of its end tag, or,
    for an empty-element tag, the byte right after it (then the root's end tag or a sibling's
    start follows, not the event's end tag)."""
    m = end_tag.match(data, end_index)
    if m is None:
        return end_index
    if m[1] is None:  # white space of a megabyte inside it
        raise etree.XMLSyntaxError("an end tag longer than the hub reads at once", 0, 0, 0)
    return m.end()


def _layout(partner: Partner, source: IO[bytes], single: bool, tuning: Tuning,
            names: frozenset[str] = frozenset()) -> Layout:
    """Where the events are, by expat, which tells the byte at which each element starts and
    ends: the events are the root's children of the event's name (or the root, ``single``), and
    an element of that name at any other depth is part of the event it is in. The file is fed to
    expat a chunk at a time, so memory stays flat whatever its events' sizes."""
    source.seek(0)
    if single:
        size, lines = 0, 1
        while chunk := source.read(CHUNK):
            size, lines = size + len(chunk), lines + chunk.count(b"\n")
        too_big = frozenset({1}) if size > partner.limits.event_bytes else frozenset()
        return Layout(1, [Cut(0, 1, 0), Cut(size, lines, 1)], None, oversize=too_big)
    ns, _, local = partner.event[1:].partition("}")
    event_name = f"{ns} {local}"  # as expat names it
    p = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.ordered_attributes = True  # a list is cheaper than a dict, and they are not read
    cuts, oversize, limit, end_tag = [Cut(0, 1, 0)], set(), partner.limits.event_bytes, _end_tag(partner.event)
    depth, events, before, first, last, last_line, opened, opened_line = 0, 0, 0, None, None, 1, None, 1
    between: list[Problem] = []  # an element other than an event between two events
    other = None  # such an element since the last event
    window, window_at = b"", 0  # the bytes fed last and before, from offset window_at: an end tag is in them

    def start(name, attributes):
        nonlocal depth, opened, opened_line, before, other
        depth += 1
        if depth != 2:
            return
        if name == event_name:
            opened, opened_line = p.CurrentByteIndex, p.CurrentLineNumber
            if other is not None and not between:
                between.append(other)
        elif first is None:
            before += 1
        elif other is None:
            other = Problem("structure", f"the element {shown_name(name.rpartition(' ')[2], names)} stands between "
                            "the events; the contract has them together", line=p.CurrentLineNumber)

    def end(name):
        nonlocal depth, events, first, last, last_line, opened
        depth -= 1
        if depth != 1 or opened is None:
            return
        here = p.CurrentByteIndex - window_at
        at = _end_of(window, here, end_tag)
        line = p.CurrentLineNumber + window[here:at].count(b"\n")
        at += window_at
        if first is None:
            first = opened
        if at - opened > limit:  # a region of its own, from its first byte to its last, never parsed
            if cuts[-1].offset < opened:
                cuts.append(Cut(opened, opened_line, events))
            oversize.add(events + 1)
        events, last, last_line, opened = events + 1, at, line, None
        if (events - cuts[-1].events >= tuning.region_events or at - cuts[-1].offset >= tuning.region_bytes
                or events in oversize):
            cuts.append(Cut(at, line, events))

    p.StartElementHandler, p.EndElementHandler = start, end
    try:
        size = 0
        while chunk := source.read(CHUNK):
            window, window_at = window[-CHUNK:] + chunk, size - len(window[-CHUNK:])
            p.Parse(chunk, False)
            size += len(chunk)
        p.Parse(b"", True)
    except expat.ExpatError as e:  # libxml2's words are clearer (a namespace error, say): have them
        source.seek(0)
        for _, el in etree.iterparse(source, events=("end",), **parsing.SAFE):
            el.clear()
        raise etree.XMLSyntaxError(expat.errors.messages[e.code], e.code, e.lineno, e.offset + 1) from None
    if events > cuts[-1].events:
        cuts.append(Cut(last, last_line, events))
    rest = size - (last - first if events else 0)
    if rest > MAX_ENVELOPE:
        return Layout(events, cuts, b"", before, [Problem(
            "size", f"the batch holds {rest} bytes besides its events; the hub takes at most {MAX_ENVELOPE}")])
    source.seek(0)
    envelope = source.read(first if events else size)
    if events:
        source.seek(last)
        envelope += source.read()
    return Layout(events, cuts, envelope, before, between, frozenset(oversize))


def regions(path: Path | bytes, scanned: Scan, tuning: Tuning = Tuning()) -> Iterator[Region]:
    """The batch's events as regions (``scanned.cuts`` must be set): read, not parsed, from the
    kept copy (a file, or a small payload's bytes). What has been read of a file is dropped
    from the page cache as the reading goes on: read once, the kept copy need not hold memory
    that the store's pages can use (on a new VM a page never used before costs ten times one
    used before, and a million events write gigabytes)."""
    if scanned.json_events is not None:
        from ketenhub.validate import jsonpage
        yield from jsonpage.regions(path, scanned, tuning)
        return
    head, tail = scanned.envelope
    with _opened(path) as f:
        dropped = 0
        for a, b in zip(scanned.cuts, scanned.cuts[1:]):
            f.seek(a.offset)
            yield Region(f.read(b.offset - a.offset), a.line, b.events - a.events, head if a.offset else b"", tail,
                         scanned.plain, b.events - a.events == 1 and b.events in scanned.oversize)
            if b.offset - dropped >= tuning.drop_behind_bytes and hasattr(os, "posix_fadvise") \
                    and not isinstance(path, bytes):  # posix_fadvise: not on macOS
                os.posix_fadvise(f.fileno(), 0, b.offset, os.POSIX_FADV_DONTNEED)
                dropped = b.offset


def _opened(kept: Path | bytes) -> IO[bytes]:
    return io.BytesIO(kept) if isinstance(kept, bytes) else open(kept, "rb")


def event_spans(region: Region, event: str) -> list[tuple[int, int]]:
    """Where each event of ``region`` starts and ends in ``region.data``: to keep a rejected
    event's bytes exactly as the partner sent them."""
    if region.plain:  # each event is <Event>...</Event>, and nothing else has its name
        local = etree.QName(event).localname.encode()
        start, end = b"<" + local + b">", b"</" + local + b">"
        spans, at = [], 0
        for _ in range(region.events):
            a = region.data.index(start, at)
            at = region.data.index(end, a) + len(end)
            spans.append((a, at))
        return spans
    text = region.head + region.data + region.tail
    ns, _, local = event[1:].partition("}")
    event_name, at_depth = f"{ns} {local}", 2 if region.tail else 1  # a batch's tail has the root's end
    p = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth, spans, opened, end_tag = 0, [], None, _end_tag(event)
    p.ordered_attributes = True

    def start(name, attributes):
        nonlocal depth, opened
        depth += 1
        if depth == at_depth and name == event_name:
            opened = p.CurrentByteIndex

    def end(name):
        nonlocal depth, opened
        if depth == at_depth and opened is not None:
            spans.append((opened - len(region.head), _end_of(text, p.CurrentByteIndex, end_tag) - len(region.head)))
            opened = None
        depth -= 1

    p.StartElementHandler, p.EndElementHandler = start, end
    p.Parse(text, True)
    return spans


def kept_event(raw: bytes, payload: Path | bytes) -> etree._Element:
    """A quarantined event parsed from its bytes as sent, under the namespace declarations of
    its batch's root, the only element around it (a prefix may be declared only there).
    ``payload``: its payload as kept, a file or its bytes (store.kept.find)."""
    root = None
    with _opened(payload) as f:
        head = parsing.pull_parser(events=("start",))
        while root is None and (chunk := f.read(4096)):
            head.feed(chunk)
            root = next((el for _, el in head.read_events()), None)
    return under_root(raw, root if root is not None else etree.Element("kept"))


def event_in_payload(partner: Partner, schema_path: Path, payload: Path | bytes, line: int | None,
                     bericht_id: str | None, tuning: Tuning = Tuning()) -> bytes | None:
    """The bytes as sent of a quarantined event that only its payload keeps: one larger than the
    partner takes (by its ``line``, as the scan cut it) or one the store refused (by its
    ``bericht_id``). None where the payload has no such event."""
    with _opened(payload) as f:
        scanned = scan(partner, schema_path, f, tuning=tuning)
    key = partner.json.bericht_id if partner.format == "json" else f"{{{partner.namespace}}}BerichtId"
    escaped = (bericht_id or "").replace("&", "&amp;").replace("<", "&lt;").encode()
    for region in regions(payload, scanned, tuning):
        if region.json:  # [index, line, text as sent] (jsonpage.regions)
            for _, first_line, sent in json.loads(region.data):
                event = json.loads(sent) if line is None else None
                if first_line == line or isinstance(event, dict) and event.get(key) == bericht_id:
                    return sent.encode()
            continue
        at, at_line = 0, region.line
        for a, b in [(0, len(region.data))] if region.oversize else event_spans(region, partner.event):
            at_line += region.data.count(b"\n", at, a)  # where the event starts, as the scan counted an event too large
            sent, at = region.data[a:b], a
            if escaped in sent and (at_line == line if line is not None else
                                    (kept_event(sent, payload).findtext(key) or "").strip() == bericht_id):
                return sent  # by line, with its BerichtId (events may share a line)
    return None


def under_root(sent: bytes, root: etree._Element) -> etree._Element:
    """An event's bytes as sent parsed on the first line of a copy of ``root`` (without its
    children), so that the prefixes it declares hold and element paths start at the root."""
    declarations = "".join(f" xmlns{':' + k if k else ''}={quoteattr(v)}" for k, v in root.nsmap.items())
    wrapper = etree.fromstring(f"<root{declarations}>".encode() + sent + b"</root>", parsing.parser())
    wrapper.tag = root.tag
    return wrapper[0]
