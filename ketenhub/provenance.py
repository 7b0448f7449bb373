"""One event's path through the hub, as NiFi's provenance shows a flow file's: the payload it came
in, its canonical document, each outbound item and each delivery attempt; or, for an event that
was refused, its bytes as sent and why. Personal data is masked unless the reader may see it,
as on the Deliveries page (operations.mask, operations.shown_trace)."""
from __future__ import annotations

from lxml import etree
from sqlalchemy import select

from ketenhub import operations as ops
from ketenhub.hub import Hub
from ketenhub.store import kept, search
from ketenhub.store.audit import trace
from ketenhub.store.retention import EMPTY
from ketenhub.store.tables import audit, delivery, event, outbound_batch, payload, quarantine
from ketenhub.xml.parsing import parser
from ketenhub.validate.payload import kept_event
from ketenhub.xml.schema import compile_schema, declared_names

PAYLOAD_SHOWN_BYTES = 1 << 20  # a kept payload is shown up to this size; a bigger one is named only


SEARCH_INDEXES = 5_000  # events a search indexes itself before it looks; the ketenhub_health DAG does the rest


def find(hub: Hub, text: str, personal_data: bool, limit: int = 100) -> tuple[list[search.Found], bool]:
    """The events found, and whether some stored just now are not searchable yet (after a big
    ingest, until the ketenhub_health DAG has indexed them). Who may not see personal data finds
    by a whole value only: else a search would tell, a character at a time, which case numbers
    and references the hub holds."""
    behind = search.catch_up(hub.engine, SEARCH_INDEXES) == SEARCH_INDEXES
    with hub.engine.connect() as conn:
        return search.find(conn, text, whole_value_only=not personal_data, limit=limit), behind


def _document(blob: bytes | None, personal_data: bool) -> str | None:
    if blob is None or bytes(blob) == EMPTY:
        return None  # purged by retention, or never kept apart
    return _indented(bytes(blob) if personal_data else ops.mask(bytes(blob)))


def _indented(document: bytes) -> str:
    """The hub's own documents are written on one line; shown, one element a line."""
    root = etree.fromstring(document, parser())
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")


def of_event(hub: Hub, event_id: int, personal_data: bool) -> dict | None:
    with hub.engine.connect() as conn:
        e = conn.execute(select(event).where(event.c.id == event_id)).mappings().first()
        if e is None:
            return None
        p = conn.execute(select(payload).where(payload.c.id == e["payload_id"])).mappings().one()
        items = conn.execute(select(delivery, outbound_batch.c.name.label("batch_name"))
                             .select_from(delivery.outerjoin(outbound_batch, outbound_batch.c.id == delivery.c.batch_id))
                             .where(delivery.c.event_id == event_id).order_by(delivery.c.id)).mappings().all()
        rows = trace(conn, e["bericht_id"])
    shown = ops.shown_trace(rows, personal_data)
    deliveries = []
    for d in items:
        attempts = [r for r in shown if r["subject"] == "delivery" and r["subject_id"] == d["id"]]
        deliveries.append(dict(
            id=d["id"], destination=d["destination"], recipient=d["recipient"], key=d["idempotency_key"],
            state=d["state"], attempts=d["attempts"], batch=d["batch_name"], created_at=d["created_at"],
            updated_at=d["updated_at"], next_attempt_at=d["next_attempt_at"],
            last_error=ops._error(hub, d, personal_data) if d["last_error"] or d["error_summary"] else "",
            document=_document(d["document"], personal_data), trail=attempts))
    return dict(
        id=e["id"], partner=e["partner"], bericht_id=e["bericht_id"], kind=e["kind"], soort=e["soort"],
        received_at=e["received_at"], canonical=_document(e["canonical"], personal_data),
        payload=_payload(p), deliveries=deliveries,
        trail=[r for r in shown if (r["subject"] == "event" and r["subject_id"] == event_id)
               or (r["subject"] == "payload" and r["subject_id"] == p["id"])],
        others=[r for r in shown if r["subject"] == "quarantine"])


def of_quarantined(hub: Hub, item_id: int, personal_data: bool) -> dict | None:
    """A refused event (or payload): its bytes as sent and the reason, which names line, element
    and rule, never a value."""
    with hub.engine.connect() as conn:
        q = conn.execute(select(quarantine).where(quarantine.c.id == item_id)).mappings().first()
        if q is None:
            return None
        p = conn.execute(select(payload).where(payload.c.id == q["payload_id"])).mappings().one()
        rows = conn.execute(select(audit).where(audit.c.subject == "quarantine", audit.c.subject_id == item_id)
                            .order_by(audit.c.id)).mappings().all()
        accepted = conn.scalar(select(event.c.id).where(event.c.partner == q["partner"],
                                                        event.c.bericht_id == q["bericht_id"])) \
            if q["bericht_id"] else None
    raw = None
    if q["raw"] is not None and bytes(q["raw"]) != EMPTY:
        raw = bytes(q["raw"]).decode("utf-8", "replace") if personal_data \
            else _masked_or_note(hub, q["partner"], bytes(q["raw"]), p)
    return dict(id=q["id"], partner=q["partner"], bericht_id=q["bericht_id"], line=q["line"], reason=q["reason"],
                state=q["state"], created_at=q["created_at"], raw=raw, payload=_payload(p),
                accepted_event=accepted, trail=ops.shown_trace([dict(r) for r in rows], personal_data))


def _masked_or_note(hub: Hub, partner: str, raw: bytes, payload_row=None) -> str:
    """A partner's bytes as sent, masked (ops.mask_sent). A quarantined event (``payload_row``:
    its payload) is parsed as it stood in its batch, under the root's namespace declarations."""
    p = hub.registry.partners.get(partner)
    if p is not None and p.format == "json":
        return "[masked: a JSON event is not shown masked; who may see personal data sees it as sent]"
    try:
        if payload_row is None:
            root = etree.fromstring(raw, parser())
        else:
            with hub.engine.connect() as conn:
                kept_bytes = kept.find(conn, hub.settings.payloads_dir, payload_row["id"], payload_row["sha256"])
            if not kept.is_kept(kept_bytes):  # its batch's root gone: the contract's namespace stands in
                kept_bytes = b"<kept xmlns='%s'/>" % (p.namespace if p else "").encode()
            root = kept_event(raw, kept_bytes)
        contract = None
        if p is not None:
            schema = hub.settings.schemas_dir / p.schema
            contract = ops.Contract(compile_schema(str(schema)), p.event, declared_names(str(schema)))
        return ops.mask_sent(root, contract)
    except (etree.XMLSyntaxError, ValueError):  # refused bytes need not be well-formed
        return "[masked: the bytes as sent are not well-formed XML, so nothing of them can be shown]"
    except Exception:  # whatever else went wrong, nothing of the bytes is shown
        return "[masked: the bytes as sent could not be shown masked]"


def _payload(p) -> dict:
    return dict(id=p["id"], partner=p["partner"], name=p["name"], sha256=p["sha256"], size=p["size"],
                received_at=p["received_at"], state=p["state"], reason=p["reason"],
                accepted=p["events_accepted"], rejected=p["events_rejected"], duplicate=p["events_duplicate"])


def payload_text(hub: Hub, payload_id: int, personal_data: bool) -> tuple[dict, str | None] | None:
    """A kept payload with its bytes (masked unless the reader may see personal data), when it is
    still kept and small enough to show."""
    with hub.engine.connect() as conn:
        p = conn.execute(select(payload).where(payload.c.id == payload_id)).mappings().first()
        if p is None:
            return None
        data = kept.read(conn, hub.settings.payloads_dir, p["id"], p["sha256"], PAYLOAD_SHOWN_BYTES)
    if data is None:
        return _payload(p), None
    return _payload(p), data.decode("utf-8", "replace") if personal_data else _masked_or_note(hub, p["partner"], data)
