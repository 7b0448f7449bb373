"""The receive cursor of a polled partner: how far it has been read and confirmed. A numbered
feed (Politie's Volgnummer) moves ``position``; a feed that hands out an opaque cursor (SHN's
``volgende``) moves ``token``, which is kept exactly as the partner wrote it."""
from __future__ import annotations

from sqlalchemy import Engine, select

from ketenhub.clock import now
from ketenhub.store.audit import Entry, record
from ketenhub.store.tables import receive_cursor


class ReceiveCursor:
    def __init__(self, engine: Engine, partner: str):
        self.engine, self.partner = engine, partner

    def position(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(receive_cursor.c.position).where(receive_cursor.c.partner == self.partner)) or 0

    def advance(self, position: int) -> None:
        self._set(position=position)

    def token(self) -> str | None:
        """The opaque cursor last stored; None before the first page (the feed starts at its oldest)."""
        with self.engine.connect() as conn:
            return conn.scalar(select(receive_cursor.c.token).where(receive_cursor.c.partner == self.partner))

    def advance_token(self, token: str) -> None:
        self._set(token=token)

    def _set(self, **values) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(receive_cursor.update().where(receive_cursor.c.partner == self.partner)
                                   .values(**values, updated_at=now())).rowcount
            if not updated:
                conn.execute(receive_cursor.insert().values(**{"position": 0, **values}, partner=self.partner,
                                                            updated_at=now()))

    def clear(self, actor: str, reason: str) -> None:
        """An operator's decision, after the partner said the cursor is too old (SHN's 410): the
        next run starts at the oldest event the partner still holds. Audited with who and why."""
        if not reason.strip():
            raise ValueError("clearing a cursor needs a reason, for the audit trail")
        with self.engine.begin() as conn:
            conn.execute(receive_cursor.update().where(receive_cursor.c.partner == self.partner)
                         .values(token=None, position=0, updated_at=now()))
            record(conn, [Entry("cursor", 0, "cleared", detail=f"{self.partner} by {actor}: {reason}")], actor=actor)
