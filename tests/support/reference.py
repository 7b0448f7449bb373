"""A plain reference reader for a partner's payload: the whole document parsed at once, its
events the root's children of the event's name (or the root itself), each processed alone.
What the hub's fast reading gives must equal what this gives."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from ketenhub.processing import EventProcessor, RejectedEvent
from ketenhub.xml.parsing import parser


def events(event: str, path: Path) -> list[etree._Element]:
    root = etree.parse(str(path), parser()).getroot()
    return [root] if root.tag == event else [el for el in root if el.tag == event]


def processed(processor: EventProcessor, path: Path) -> list:
    """Each event's result, its rejected bytes left out (lxml writes them, not the file)."""
    return [without_raw(processor.process(el)) for el in events(processor.partner.event, path)]


def without_raw(result):
    return result._replace(raw=None) if isinstance(result, RejectedEvent) else result
