"""Table definitions (SQLAlchemy Core). Schema changes go through Alembic migrations in
``migrations/``; this module describes the current head for the code that queries."""
from sqlalchemy import (BigInteger, Column, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        PrimaryKeyConstraint, String, Table, Text, UniqueConstraint, and_, text)

metadata = MetaData()

# One received file or message, as received. Its bytes are kept by store.kept: in kept_payload
# (a small file of a group), else under payloads/ by sha256.
payload = Table(
    "payload", metadata,
    Column("id", Integer, primary_key=True),
    Column("partner", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),  # received, accepted, rejected
    Column("reason", Text),
    Column("events_accepted", Integer, nullable=False, default=0),
    Column("events_rejected", Integer, nullable=False, default=0),
    Column("events_duplicate", Integer, nullable=False, default=0),
    UniqueConstraint("partner", "sha256", name="uq_payload_partner_sha256"),
    Index("ix_payload_received", "received_at"),  # what arrived when, for the health page
)
# A payload stored (accepted) all of whose events were rejected: shown as states.EVERY_EVENT_REJECTED
every_event_rejected = and_(payload.c.state == "accepted", payload.c.events_accepted == 0,
                            payload.c.events_duplicate == 0, payload.c.events_rejected > 0)

# A small payload's bytes as received, kept in the store with its row (see store.kept): in the
# same commit, where a file of its own cost a file created and synced per payload.
kept_payload = Table(
    "kept_payload", metadata,
    Column("payload_id", ForeignKey("payload.id"), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

# One accepted inbound event, in canonical form; a BerichtId is processed once per partner.
event = Table(
    "event", metadata,
    Column("id", Integer, primary_key=True),
    Column("partner", String(32), nullable=False),
    Column("bericht_id", String(255), nullable=False),
    Column("payload_id", ForeignKey("payload.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("soort", String(40), nullable=False),
    Column("state", String(16), nullable=False),  # accepted
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("canonical", LargeBinary, nullable=False),
    UniqueConstraint("partner", "bericht_id", name="uq_event_partner_bericht"),
)

# A rejected event (or payload), with its raw bytes and the reason in plain words.
quarantine = Table(
    "quarantine", metadata,
    Column("id", Integer, primary_key=True),
    Column("partner", String(32), nullable=False),
    Column("payload_id", ForeignKey("payload.id"), nullable=False),
    Column("bericht_id", String(255)),
    Column("line", Integer),
    Column("reason", Text, nullable=False),
    Column("raw", LargeBinary),  # NULL for a whole payload: its bytes are the payload's kept bytes (store.kept)
    Column("state", String(16), nullable=False),  # open, reprocessed
    Column("created_at", DateTime(timezone=True), nullable=False),
    # SHA-256 of what the row holds (line and raw bytes, or the payload's reason): a payload
    # processed again after a crash adds no second row for an event it quarantined already.
    Column("fingerprint", String(64)),
    Index("ix_quarantine_bericht", "bericht_id"),
    Index("uq_quarantine_payload_fingerprint", "payload_id", "fingerprint", unique=True),
)

# A group of deliveries sent together (a KbSP call, a CJIB file); kept so that a batch
# interrupted by a crash is sent again under the same name with the same content.
outbound_batch = Table(
    "outbound_batch", metadata,
    Column("id", Integer, primary_key=True),
    Column("destination", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("state", String(16), nullable=False),  # sending, sent, failed
    Column("item_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("worker", String(128)),  # who is sending it
    Column("lease_until", DateTime(timezone=True)),  # after this, another worker may take it over
    UniqueConstraint("destination", "name", name="uq_batch_destination_name"),
    Index("ix_batch_created", "destination", "created_at"),  # a day's batches, for the next one's number
)

# One outbound message: event × destination × recipient, keyed for idempotency.
delivery = Table(
    "delivery", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", ForeignKey("event.id"), nullable=False),
    Column("destination", String(32), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("document", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),  # pending, sending, delivered, failed, dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),  # may quote what the destination wrote back: personal data
    Column("error_summary", Text),  # the hub's own words about last_error, for who may not see it
    Column("batch_id", ForeignKey("outbound_batch.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("destination", "idempotency_key", name="uq_delivery_destination_key"),
    Index("ix_delivery_due", "destination", "state", "next_attempt_at", "id"),  # claims, in this order
    # Partial: a delivery has no batch when it is stored, so a big ingest adds no entries here.
    Index("ix_delivery_batch", "batch_id", sqlite_where=text("batch_id IS NOT NULL"),
          postgresql_where=text("batch_id IS NOT NULL")),
    Index("ix_delivery_event", "event_id"),
    # Partial: what health counts (delivered, failed, dead by time); a pending delivery is not in it.
    Index("ix_delivery_settled", "destination", "updated_at", "state", "created_at",
          sqlite_where=text("state = 'delivered' OR state = 'failed' OR state = 'dead'"),  # no IN list: see 0016
          postgresql_where=text("state IN ('delivered', 'failed', 'dead')")),
)

# Append-only: every state change of every payload, event, delivery and quarantined item.
audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("subject", String(16), nullable=False),  # payload, event, delivery, quarantine, batch
    Column("subject_id", Integer, nullable=False),
    Column("bericht_id", String(255)),
    Column("action", String(32), nullable=False),
    Column("detail", Text),
    Column("prev_hash", LargeBinary),  # the hash chain (see store.audit_chain); NULL only in a row not written by the hub
    Column("hash", LargeBinary),
    # Set by retention when it pseudonymises bericht_id or blanks detail: the SHA-256 the chain holds of the
    # field as written (see store.audit_chain)
    Column("bericht_digest", LargeBinary),
    Column("detail_digest", LargeBinary),
    Index("ix_audit_subject", "subject", "subject_id"),
    # Partial: rows about deliveries and batches name no BerichtId.
    Index("ix_audit_bericht", "bericht_id", sqlite_where=text("bericht_id IS NOT NULL"),
          postgresql_where=text("bericht_id IS NOT NULL")),
)

# The audit chain's last row (id and hash), one row, locked by every transaction that appends.
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("last_id", Integer, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("digests_from", Integer),  # the first row chained with digests of its personal fields (0011)
)

# How far a polled partner has been read: the highest Politie Volgnummer durably stored.
receive_cursor = Table(
    "receive_cursor", metadata,
    Column("partner", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("token", String(500)),  # an opaque cursor (SHN's volgende), where the partner hands out one
)

# The identifiers an event can be found by (bericht_id, parketnummer, registratienummer,
# ketenreferentie), read from its canonical document after it was stored (see store.search).
search_key = Table(
    "search_key", metadata,
    Column("event_id", ForeignKey("event.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value", String(255).with_variant(String(255, collation="C"), "postgresql"), nullable=False),
    PrimaryKeyConstraint("event_id", "kind", "value", name="pk_search_key"),
    Index("ix_search_key_value", "value"),
)

# Each destination's backlog as sampled by the ketenhub_health DAG: the backlog over time.
health_sample = Table(
    "health_sample", metadata,
    Column("at", DateTime(timezone=True), nullable=False),
    Column("destination", String(32), nullable=False),
    Column("pending", Integer, nullable=False),
    Column("retrying", Integer, nullable=False),  # pending after at least one failed attempt
    Column("in_trouble", Integer, nullable=False),  # failed or dead
    Column("oldest_seconds", Float),  # age of the oldest pending delivery
    PrimaryKeyConstraint("at", "destination", name="pk_health_sample"),
)

# The register of case identifiers seen together: a police registratienummer and the parketnummer
# of the first event that named both (see store.cases). The parketnummer is the case's key.
case_link = Table(
    "case_link", metadata,
    Column("registratienummer", String(255), primary_key=True),
    Column("parketnummer", String(255), nullable=False),
    Column("event_id", ForeignKey("event.id"), nullable=False),  # the event that linked them
    Column("linked_at", DateTime(timezone=True), nullable=False),
)
