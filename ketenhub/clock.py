"""The hub's clock: timestamps are aware and in UTC; they are shown in the reader's time zone.

The clock may be set ahead or back (``set_to``, or ``KETENHUB_CLOCK_OFFSET`` seconds in the
environment, which worker processes inherit): tests and demos of what changes at a moment, such
as a destination's switch to a new contract version, run on both sides of it. Time still passes."""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")  # the chain's zone: schedules, file dates, times shown by default
OFFSET = "KETENHUB_CLOCK_OFFSET"  # seconds added to the real time
_offset = timedelta(seconds=float(os.environ.get(OFFSET) or 0))


def now() -> datetime:
    return datetime.now(timezone.utc) + _offset if _offset else datetime.now(timezone.utc)


def set_to(at: datetime | None) -> None:
    """From here on, ``now()`` goes on from ``at``; None: the real time again."""
    global _offset
    _offset = at - datetime.now(timezone.utc) if at is not None else timedelta(0)
    if _offset:
        os.environ[OFFSET] = str(_offset.total_seconds())
    else:
        os.environ.pop(OFFSET, None)


@contextmanager
def at(moment: datetime):
    """The clock set to ``moment`` for a while."""
    before = _offset
    set_to(moment)
    try:
        yield
    finally:
        set_to(datetime.now(timezone.utc) + before if before else None)


def as_utc(dt: datetime) -> datetime:
    """A timestamp read back from the store, aware: SQLite keeps no zone, and the hub writes UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def local_time(at: datetime | None, zone: ZoneInfo = AMSTERDAM, seconds: bool = False) -> str:
    """A stored time as people read it: in ``zone``, with the zone's abbreviation ("" for none)."""
    if at is None:
        return ""
    return as_utc(at).astimezone(zone).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "") + " %Z")
