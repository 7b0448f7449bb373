"""Adapter definitions: one YAML file per partner (inbound) or destination (outbound).

Loading a definition only reads YAML; schemas and mappings are compiled lazily by the
stages that use them, so DAG files can list adapters cheaply.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ketenhub.settings import Settings


class AdapterError(Exception):
    pass


@dataclass(frozen=True)
class Rule:
    """A check XSD cannot express: an XPath 1.0 test on one event (prefix p: the partner's namespace,
    re: EXSLT regular expressions), or with ``for_each`` on each element that XPath selects in it,
    so that the reason names which one (``{n}`` in the message: its position)."""
    test: str
    message: str
    for_each: str | None = None


@dataclass(frozen=True)
class Receive:
    folder: str  # the embedded default: a drop folder under KETENHUB_HOME
    transport: str = "folder"  # the contract's transport, used when a Connection names an endpoint
    pattern: str = "*.xml"
    marker: str | None = None  # "sha256": a file is complete when <name>.sha256 exists
    done: str = "processed"
    rejected: str = "rejected"
    remote: str | None = None  # sftp: the partner's folder to read from
    archive: str = "archive"  # sftp: where read files go on the server
    wsdl: str | None = None  # soap: the partner's WSDL under schemas/
    schedule: str | None = None
    deadline: str | None = None  # "HH:MM" Amsterdam time: by then the nightly exchange must have arrived
    max_pages: int = 100  # soap: pages asked for in one run at most; the next run goes on from the cursor
    answer_max_bytes: int = 16 * 1024 * 1024  # soap: a larger answer is refused, never read whole
    call_deadline_seconds: float = 120  # soap: a call that takes longer as a whole is abandoned
    # push: the partner calls the hub's own service (ketenhub serve)
    operation: str | None = None  # push: the WSDL's operation served
    path: str | None = None  # push: the URL path it is served at
    max_events: int = 100  # push: events in one call at most
    timestamp_window_seconds: int = 300  # push: how far a request's wsu:Timestamp may be off


@dataclass(frozen=True)
class Limits:
    """What one payload of a partner may cost; past a limit the hub refuses with the reason,
    and keeps the bytes. Set per partner under ``limits:`` in its adapter."""
    # A nightly file of a million events is some hundreds of MB.
    payload_bytes: int = 4 << 30
    # An event larger than this is refused without being parsed: partners' events are a few KB.
    event_bytes: int = 1 << 20
    # Problems named in one event's reason; the rest are counted.
    errors_per_event: int = 20


@dataclass(frozen=True)
class Retention:
    """How many days personal data is kept (docs/security-retention.md says why these defaults).
    A partner's ``retention:`` sets payloads, events and quarantine; a destination's sets deliveries."""
    payloads: int = 30  # kept payload files, once all their events are settled
    events: int = 90  # an event's canonical document, once none of its deliveries is still due
    quarantine: int = 180  # a quarantined event's bytes as sent, and its reason
    deliveries: int = 90  # a delivered, failed or dead delivery's document and what the destination wrote back


@dataclass(frozen=True)
class Partner:
    partner: str
    name: str
    oin: str
    schema: str
    event: str  # Clark name of the event element
    mapping: str
    receive: Receive
    batch_root: str | None = None  # Clark name of the batch root, if a file holds many events
    batch_count: str | None = None  # Clark name of the header element with the control count
    batch_sender: str | None = None  # Clark name of the header element with the sender's OIN
    rules: tuple[Rule, ...] = ()
    limits: Limits = Limits()
    retention: Retention = Retention()

    @property
    def namespace(self) -> str:
        return self.event[1:].split("}")[0]


@dataclass(frozen=True)
class Destination:
    destination: str
    name: str
    oin: str
    schema: str
    mapping: str
    events: tuple[str, ...]
    item: str  # Clark name of one outbound item
    key: str  # XPath (prefix d:) to the item's idempotency key
    recipient: str  # XPath (prefix d:) naming whom the item is for
    envelope: Mapping[str, Any]  # its kind and settings: see deliver.envelopes
    folder: str  # the embedded default: an outbox folder under KETENHUB_HOME
    transport: str = "folder"  # the contract's transport, used when a Connection names an endpoint
    marker: str | None = None  # "sha256": write <name>.sha256 after the file
    remote: str | None = None  # sftp: the destination's folder to write into
    wsdl: str | None = None  # soap: the destination's WSDL under schemas/
    max_attempts: int = 10  # a delivery still failing transiently after this many is dead
    alert_above: int = 0  # the delivery DAG fails when more deliveries than this are failed or dead
    schedule: str | None = None  # with on_arrival, the safety net: retries that came due, a failed receiving run
    on_arrival: bool = True  # also deliver as soon as receiving routed something here (false: a nightly batch)
    senders: int = 1  # tasks that deliver side by side in one run, on as many workers
    retry_after_max_seconds: float = 3600.0  # a destination's Retry-After is honoured up to this
    alert_waiting_above_seconds: float = 7200.0  # a delivery due later than this from now is an alert
    answer_max_bytes: int = 16 * 1024 * 1024  # soap/http: a larger answer is refused, never read whole
    call_deadline_seconds: float = 120.0  # soap/http: a call that takes longer as a whole is abandoned
    label: str = ""  # how errors name the destination ("KbSP: AFGEWEZEN: ..."); default its name in capitals
    retention: Retention = Retention()
    options: Mapping[str, Any] = field(default_factory=dict)  # the rest of deliver:, for its transport

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", self.destination.upper())

    @property
    def namespace(self) -> str:
        return self.item[1:].split("}")[0]


@dataclass
class Registry:
    partners: dict[str, Partner] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)

    def partner(self, name: str) -> Partner:
        try:
            return self.partners[name]
        except KeyError:
            raise AdapterError(f"unknown partner {name!r}; known: {', '.join(sorted(self.partners))}") from None

    def destination(self, name: str) -> Destination:
        try:
            return self.destinations[name]
        except KeyError:
            known = ", ".join(sorted(self.destinations))
            raise AdapterError(f"unknown destination {name!r}; known: {known}") from None


def _partner(d: dict) -> Partner:
    batch = d.get("batch") or {}
    return Partner(
        partner=d["partner"], name=d["name"], oin=str(d["oin"]), schema=d["schema"],
        event=d["event"], mapping=d["mapping"], receive=Receive(**d["receive"]),
        batch_root=batch.get("root"), batch_count=batch.get("count"), batch_sender=batch.get("sender"),
        rules=tuple(Rule(r["assert"], r["message"], r.get("for_each")) for r in d.get("rules", ())),
        limits=Limits(**{k: int(v) for k, v in (d.get("limits") or {}).items()}),
        retention=_retention(d, ("payloads", "events", "quarantine")),
    )


def _retention(d: dict, kinds: tuple[str, ...]) -> Retention:
    given = d.get("retention") or {}
    unknown = set(given) - set(kinds)
    if unknown:
        raise KeyError(f"retention: {', '.join(sorted(unknown))} (may hold {', '.join(kinds)})")
    days = {k: int(v) for k, v in given.items()}
    if any(v < 1 for v in days.values()):
        raise TypeError("retention: days must be at least 1")
    return Retention(**days)


def _destination(d: dict) -> Destination:
    deliver = dict(d.get("deliver") or {})
    common = {k: deliver.pop(k) for k in _COMMON if k in deliver}
    typed = {k: type(getattr(Destination, k))(common.pop(k)) for k in _LIMITS if k in common}
    return Destination(
        destination=d["destination"], name=d["name"], oin=str(d["oin"]), schema=d["schema"],
        mapping=d["mapping"], events=tuple(d["events"]), item=d["item"], key=d["key"],
        recipient=d["recipient"], envelope=dict(d["envelope"]), folder=common.pop("folder"),
        max_attempts=int(common.pop("max_attempts", 10)), alert_above=int(common.pop("alert_above", 0)),
        on_arrival=bool(common.pop("on_arrival", True)), senders=int(common.pop("senders", 1)),
        **common, **typed, options=deliver, retention=_retention(d, ("deliveries",)),
    )


_LIMITS = ("retry_after_max_seconds", "alert_waiting_above_seconds", "answer_max_bytes", "call_deadline_seconds")
# What every destination's deliver: section may hold; the rest configures its transport.
_COMMON = ("transport", "folder", "marker", "remote", "wsdl", "max_attempts", "alert_above", "schedule", "label",
           "on_arrival", "senders", *_LIMITS)


def load(settings: Settings) -> Registry:
    registry = Registry()
    for path in sorted(Path(settings.adapters_dir).glob("*.yaml")):
        with open(path, encoding="utf-8") as f:
            d = yaml.safe_load(f)
        try:
            if "partner" in d:
                p = _partner(d)
                registry.partners[p.partner] = p
            elif "destination" in d:
                dest = _destination(d)
                registry.destinations[dest.destination] = dest
            else:
                raise KeyError("partner or destination")
        except (KeyError, TypeError) as e:
            raise AdapterError(f"{path.name}: missing or wrong field {e}") from None
    return registry
