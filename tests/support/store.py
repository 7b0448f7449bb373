"""Reading the hub's store in tests."""
from __future__ import annotations

from sqlalchemy import func, select


def count(hub, table, *where) -> int:
    """Rows of ``table`` (meeting ``where``)."""
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table).where(*where))
