"""The receive cursor of a polled partner: how far it has been read and confirmed."""
from __future__ import annotations

from sqlalchemy import Engine, select

from ketenhub.clock import now
from ketenhub.store.tables import receive_cursor


class ReceiveCursor:
    def __init__(self, engine: Engine, partner: str):
        self.engine, self.partner = engine, partner

    def position(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(receive_cursor.c.position).where(receive_cursor.c.partner == self.partner)) or 0

    def advance(self, position: int) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(receive_cursor.update().where(receive_cursor.c.partner == self.partner)
                                   .values(position=position, updated_at=now())).rowcount
            if not updated:
                conn.execute(receive_cursor.insert().values(partner=self.partner, position=position,
                                                            updated_at=now()))
