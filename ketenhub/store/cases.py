"""The register of case identifiers seen together. Partners name a case by parketnummer, by
police registratienummer, or both; an event naming both links them here, at store time, so that
a later event naming only the registratienummer gets the Ketenreferentie of the parketnummer's
case (see xml.xslt.ketenreferentie). The first parketnummer named beside a registratienummer is
the one kept.

A link that arrives after Ketenreferenties were published under the registratienummer alone
joins two references into one case: ``conflicts`` lists those for the operators."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, select, text

from ketenhub.clock import now
from ketenhub.store.bulk import array, execute, insert_many, select_in, value
from ketenhub.store.search import catch_up
from ketenhub.store.tables import case_link, delivery, event

def numbers(canonical: bytes) -> tuple[str, str]:
    """The (registratienummer, parketnummer) a canonical document names, '' where it has none."""
    return _number(canonical, _REGISTRATIENUMMER), _number(canonical, _PARKETNUMMER)


# The case's own numbers come first in a canonical document (Zaak, in its default namespace),
# before anything else that could hold one: found by position, at every stored event.
_REGISTRATIENUMMER, _PARKETNUMMER, _ZAAK_WITHIN = b"<Registratienummer>", b"<Parketnummer>", 4096


def _number(canonical: bytes, tag: bytes) -> str:
    start = canonical.find(tag, 0, _ZAAK_WITHIN)
    if start < 0:
        return ""
    start += len(tag)
    return " ".join(canonical[start:canonical.find(b"<", start)].decode().split())


def record_links(conn: Connection, event_ids, canonicals) -> None:
    """Links the numbers of stored events that name both, where the registratienummer has no link
    yet: one statement per chunk of events."""
    links = {}
    r_len, p_len = len(_REGISTRATIENUMMER), len(_PARKETNUMMER)
    for event_id, canonical in zip(event_ids, canonicals):
        r = canonical.find(_REGISTRATIENUMMER, 0, _ZAAK_WITHIN)
        p = canonical.find(_PARKETNUMMER, 0, _ZAAK_WITHIN) if r >= 0 else -1
        if p >= 0:  # both: most of the OM's events; the rest are not read further
            # _number's work, written out: the calls cost as much as the rest at every stored event
            r += r_len
            registratienummer = " ".join(canonical[r:canonical.find(b"<", r)].decode().split())
            if registratienummer not in links:
                p += p_len
                links[registratienummer] = (" ".join(canonical[p:canonical.find(b"<", p)].decode().split()), event_id)
    if not links:
        return
    if conn.dialect.name == "sqlite":  # one statement, no lookup first: a link kept stays as it is
        at = value(conn, case_link.c.linked_at, now())
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            insert_many(cursor, "INSERT OR IGNORE INTO case_link (registratienummer, parketnummer, event_id, "
                                "linked_at) VALUES ", "(?, ?, ?, ?)", [(r, p, e, at) for r, (p, e) in links.items()])
        finally:
            cursor.close()
        return
    # One statement with the chunk's links as arrays; the first link seen stays, also when two
    # intakes link the same number at once.
    execute(conn, "INSERT INTO case_link (registratienummer, parketnummer, event_id, linked_at) "
                  "SELECT r, p, e, ? FROM unnest(CAST(? AS text[]), CAST(? AS text[]), CAST(? AS bigint[])) "
                  "AS link(r, p, e) ON CONFLICT (registratienummer) DO NOTHING",
            (now(), array(links), array([p for p, _ in links.values()]), array([e for _, e in links.values()])))


class Register:
    """The parketnummer linked to a registratienummer, read from the store when asked: for the
    events that name a case by registratienummer alone. A link found is remembered (a link never
    changes); a number found unlinked is asked again for the next events mapped (``expect``), as
    an event may have made its link since."""

    def __init__(self, engine):
        self.engine, self.known = engine, {}
        self.expected: set[str] = set()
        self.unlinked: set[str] = set()
        # links that events not stored yet make (``named_links``), for where the store has none:
        # a worker maps one page while the page before is stored (pipeline._ingest_pages)
        self.pending: dict[str, str] = {}

    def expect(self, numbers) -> None:
        """The registratienummers of the events about to be mapped: looked up together on the first
        lookup that is not known, rather than with a statement each."""
        self.expected, self.unlinked = set(numbers), set()

    def get(self, registratienummer: str, default: str = "") -> str:
        found = self.known.get(registratienummer)
        if found is None and registratienummer not in self.unlinked:
            asked = list({registratienummer, *self.expected} - self.known.keys())
            self.expected = set()
            with self.engine.connect() as conn:
                self.known.update(select_in(conn, "SELECT registratienummer, parketnummer FROM case_link "
                                                  "WHERE registratienummer IN", (), asked))
            self.unlinked.update(n for n in asked if n not in self.known)
            found = self.known.get(registratienummer)
        return found or self.pending.get(registratienummer) or default


def named_links(canonicals) -> dict[str, str]:
    """The links ``record_links`` would make of these canonical documents, on a store that has
    none for their registratienummers: the first parketnummer named beside each."""
    links = {}
    for canonical in canonicals:
        registratienummer, parketnummer = numbers(canonical)
        if registratienummer and parketnummer:
            links.setdefault(registratienummer, parketnummer)
    return links


def snapshot(conn: Connection) -> dict[str, str]:
    """The whole register, for worker processes, which have no database."""
    return dict(execute(conn, "SELECT registratienummer, parketnummer FROM case_link"))


class Conflict(NamedTuple):
    registratienummer: str
    parketnummer: str
    linked_at: object
    event_id: int  # the event that linked them
    partner: str
    bericht_id: str
    before: list[str]  # Ketenreferenties published under the registratienummer alone
    after: list[str]  # those of the parketnummer's case


_EARLIER = text("""
SELECT l.registratienummer, r.event_id, k.value
FROM case_link l
JOIN search_key r ON r.kind = 'registratienummer' AND r.value = l.registratienummer
JOIN search_key k ON k.event_id = r.event_id AND k.kind = 'ketenreferentie'
WHERE r.event_id < l.event_id
  AND NOT EXISTS (SELECT 1 FROM search_key p WHERE p.event_id = r.event_id AND p.kind = 'parketnummer')
  AND EXISTS (SELECT 1 FROM delivery d WHERE d.event_id = r.event_id AND d.destination LIKE 'kbsp%')
""")


def conflicts(engine) -> list[Conflict]:
    """Cases for which two Ketenreferenties were published: KbSP statuses were sent under the
    registratienummer alone before an event linked it to a parketnummer. Reads the search index,
    brought up to date first."""
    while catch_up(engine) > 0:
        pass
    with engine.connect() as conn:
        before = _published(conn, conn.execute(_EARLIER).all())
        if not before:
            return []
        rows = conn.execute(
            select(case_link.c.registratienummer, case_link.c.parketnummer, case_link.c.linked_at, event.c.id,
                   event.c.partner, event.c.bericht_id)
            .join_from(case_link, event, event.c.id == case_link.c.event_id)
            .where(case_link.c.registratienummer.in_(before))
            .order_by(case_link.c.linked_at, case_link.c.registratienummer)).all()
        after = _published(conn, select_in(
            conn, "SELECT p.value, p.event_id, k.value FROM search_key p JOIN search_key k ON k.event_id = p.event_id "
                  "AND k.kind = 'ketenreferentie' WHERE p.kind = 'parketnummer' AND p.value IN",
            (), list({r.parketnummer for r in rows})))
    return [Conflict(r.registratienummer, r.parketnummer, r.linked_at, r.id, r.partner, r.bericht_id,
                     sorted(before[r.registratienummer]), sorted(after.get(r.parketnummer, set())))
            for r in rows]


def _published(conn: Connection, found) -> dict[str, set[str]]:
    """Of (case number, event id, Ketenreferentie) rows, per case number the references that are
    in a document for KbSP: a victim who wished no news got none."""
    found = list(found)
    sent = conn.execute(select(delivery.c.event_id, delivery.c.document).where(
        delivery.c.destination.like("kbsp%"), delivery.c.event_id.in_({e for _, e, _ in found}))).all() if found else []
    documents: dict[int, list[bytes]] = {}
    for event_id, document in sent:
        documents.setdefault(event_id, []).append(bytes(document))
    published: dict[str, set[str]] = {}
    for number, event_id, reference in found:
        if any(reference.encode() in d for d in documents.get(event_id, ())):
            published.setdefault(number, set()).add(reference)
    return published
