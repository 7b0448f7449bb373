"""What receiving routed, per destination: the deliveries made after a watermark taken before
it started. Delivery ids only grow, so a run's own deliveries are always past its watermark;
another run's that committed meanwhile may be counted too, which costs a delivery run at most."""
from __future__ import annotations

from sqlalchemy import Connection, text


def watermark(conn: Connection) -> int:
    return conn.scalar(text("SELECT coalesce(max(id), 0) FROM delivery"))


def routed_since(conn: Connection, mark: int) -> dict[str, int]:
    """New deliveries per destination, read by the primary key from ``mark`` on: a night's
    deliveries at most, never the table (grouped directly, SQLite scanned a whole index)."""
    rows = conn.execute(text("SELECT destination, count(*) FROM (SELECT destination FROM delivery WHERE id > :mark "
                             "ORDER BY id) AS new GROUP BY destination"), {"mark": mark})
    return {destination: n for destination, n in rows}
