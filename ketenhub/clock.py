"""The hub's clock: timestamps are aware and in UTC; they are shown in the reader's time zone."""
from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(dt: datetime) -> datetime:
    """A timestamp read back from the store, aware: SQLite keeps no zone, and the hub writes UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
