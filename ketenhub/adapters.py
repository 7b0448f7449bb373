"""Adapter definitions: one YAML file per partner (inbound) or destination (outbound).

Loading a definition only reads YAML; schemas and mappings are compiled lazily by the
stages that use them, so DAG files can list adapters cheaply.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Collection, Mapping

import yaml

from ketenhub.clock import AMSTERDAM
from ketenhub.settings import Settings


class AdapterError(Exception):
    pass


class UnknownSetting(ValueError):
    """A key an adapter section does not have: a typo would otherwise switch a check off unseen."""


def known(d: Mapping, keys: Collection[str], where: str) -> None:
    unknown = set(d) - set(keys)
    if unknown:
        raise UnknownSetting(f"{where}{', '.join(sorted(unknown))}: no such setting "
                             f"(there are {', '.join(sorted(keys))})")


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
    options: Mapping[str, Any] = field(default_factory=dict)  # the rest of receive:, for its transport


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
class JsonEvents:
    """Where the events are in a JSON payload (``format: json``): the member of the page that holds
    them, the schema's definition each is validated against on its own, and the member with its
    BerichtId. Each event is then handed on as XML in the W3C json-to-xml vocabulary (XPath 3.1),
    so that rules and mappings read it as they read any other."""
    events: str  # the page's member holding the list of events: gebeurtenissen
    event_schema: str  # a JSON pointer into the schema: "#/$defs/Gebeurtenis"
    bericht_id: str  # the event's member holding its BerichtId: berichtId


JSON_TO_XML = "http://www.w3.org/2005/xpath-functions"  # the W3C json-to-xml vocabulary


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
    format: str = "xml"  # json: the schema is a JSON Schema, and json: says where the events are
    json: JsonEvents | None = None

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
    concurrency: int = 1  # items of their own (an envelope of one) sent at once; see deliver.run._send_each
    label: str = ""  # how errors name the destination ("KbSP: AFGEWEZEN: ..."); default its name in capitals
    retention: Retention = Retention()
    options: Mapping[str, Any] = field(default_factory=dict)  # the rest of deliver:, for its transport
    connection: str | None = None  # the Airflow Connection is ketenhub_<connection>; default the destination's name
    version: str | None = None  # the contract version this describes, for a destination with several
    # A destination with several contract versions: each, oldest first. Its own fields are then
    # the newest version's; a version's differ where the contract does (see Version).
    versions: tuple["Version", ...] = ()

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", self.destination.upper())

    @property
    def namespace(self) -> str:
        return self.item[1:].split("}")[0]

    def taking(self, at: datetime) -> list[tuple["Destination", frozenset[str]]]:
        """Which version takes which kinds of event at ``at``: a kind goes through the oldest
        version in use then that takes it, so what only a newer version has goes through that."""
        if not self.versions:
            return [(self, frozenset(self.events))]
        taken: set[str] = set()
        chosen = []
        for v in self.versions:
            if v.in_use(at):
                kinds = frozenset(v.destination.events) - taken
                taken |= kinds
                chosen.append((v.destination, kinds))
        return chosen

    def in_version(self, name: str) -> "Destination":
        """The destination as one of its versions has it: that version's contract, this one's
        common settings (limits, retries, alerts)."""
        for v in self.versions:
            if v.version == name:
                return replace(self, versions=(), **{f: getattr(v.destination, f) for f in _VERSIONED})
        raise AdapterError(f"{self.destination} has no version {name!r}")

    def each_version(self) -> list["Destination"]:
        return [self.in_version(v.version) for v in self.versions]


@dataclass(frozen=True)
class Version:
    """One contract version of a destination (``versions:`` in its adapter). In use from
    ``start`` (``from:``) until ``until``: from then the destination refuses it, and what still
    waits for it goes through the next version, converted by ``upgrade``."""
    version: str
    destination: Destination  # the destination as this version has it: schema, mapping, item, envelope, deliver
    start: datetime | None = None
    until: datetime | None = None
    upgrade: str | None = None  # mappings/<x>.xsl: an item of this version as an item of the next

    def in_use(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.until is None or at < self.until)


@dataclass
class Registry:
    partners: dict[str, Partner] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # partner -> why its adapter does not load

    def partner(self, name: str) -> Partner:
        if name in self.broken:
            raise AdapterError(self.broken[name])
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


_PARTNER = ("partner", "name", "oin", "schema", "event", "mapping", "receive", "batch", "rules", "limits", "retention",
            "format", "json")


def _partner(d: dict) -> Partner:
    known(d, _PARTNER, "")
    batch = d.get("batch") or {}
    known(batch, ("root", "count", "sender"), "batch: ")
    for r in d.get("rules", ()):
        known(r, ("assert", "message", "for_each"), "rules: ")
    return Partner(
        partner=d["partner"], name=d["name"], oin=str(d["oin"]), schema=d["schema"],
        event=d["event"] if d.get("format", "xml") == "xml" else f"{{{JSON_TO_XML}}}map",
        mapping=d["mapping"], receive=_receive(d["receive"]),
        batch_root=batch.get("root"), batch_count=batch.get("count"), batch_sender=batch.get("sender"),
        rules=tuple(Rule(r["assert"], r["message"], r.get("for_each")) for r in d.get("rules", ())),
        limits=Limits(**{k: int(v) for k, v in (d.get("limits") or {}).items()}),
        retention=_retention(d, ("payloads", "events", "quarantine")),
        **_format(d),
    )


def _format(d: dict) -> dict:
    """A JSON partner's events are one json-to-xml ``map`` each: its ``event`` need not be given."""
    if d.get("format", "xml") == "xml":
        return {}
    if d["format"] != "json":
        raise TypeError(f"format: {d['format']!r} (xml or json)")
    return {"format": "json", "json": JsonEvents(**d["json"])}


_RECEIVE = {f for f in Receive.__dataclass_fields__ if f != "options"}


def _receive(d: dict) -> Receive:
    """The settings every transport shares, and the rest for the transport named (see receive.kinds)."""
    options = {k: v for k, v in d.items() if k not in _RECEIVE}
    _not_misspelt(options, _RECEIVE, "receive: ")
    for k in ("done", "rejected"):  # a folder within the drop folder, which retention empties
        v = d.get(k)
        if v is not None and (not isinstance(v, str) or v in ("", ".", "..") or "/" in v or "\\" in v):
            raise TypeError(f"receive: {k}: {v!r} must be the plain name of a folder within the drop folder")
    return Receive(**{k: v for k, v in d.items() if k in _RECEIVE}, options=options)


def _not_misspelt(options: Mapping, shared: Collection[str], where: str) -> None:
    """A setting left for the transport that nearly names a shared one (``shedule:``) is a typo:
    the shared one would keep its default unseen (no schedule: a DAG that never runs), as the
    transport's own settings are checked only when it runs."""
    for k in options:
        near = difflib.get_close_matches(k, shared, n=1, cutoff=0.8)
        if near:
            raise UnknownSetting(f"{where}{k}: no such setting; {near[0]}?")


def _retention(d: dict, kinds: tuple[str, ...]) -> Retention:
    given = d.get("retention") or {}
    known(given, kinds, "retention: ")
    days = {k: int(v) for k, v in given.items()}
    if any(v < 1 for v in days.values()):
        raise TypeError("retention: days must be at least 1")
    return Retention(**days)




def moment(value) -> datetime | None:
    """A moment in an adapter: ISO 8601, in Amsterdam time where it names no offset."""
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=AMSTERDAM)


# What a version of a destination has of its own; the rest is common to all its versions.
_VERSIONED = ("schema", "mapping", "events", "item", "key", "recipient", "envelope", "folder", "transport", "marker",
              "remote", "wsdl", "options", "connection", "version")
# What a version may set; envelope: and deliver: are merged into the destination's.
_VERSION_FIELDS = ("schema", "mapping", "events", "item", "key", "recipient", "envelope", "deliver")


def _versioned(d: dict) -> Destination:
    """A destination with several contract versions: each version's fields over the common ones."""
    versions = []
    for v in d["versions"]:
        known(v, ("version", "from", "until", "upgrade", *_VERSION_FIELDS), "versions: ")
        merged = {**d, **{k: v[k] for k in _VERSION_FIELDS if k in v}}
        for section in ("envelope", "deliver"):
            merged[section] = {**(d.get(section) or {}), **(v.get(section) or {})}
        del merged["versions"]
        dest = replace(_destination(merged), version=str(v["version"]))
        versions.append(Version(str(v["version"]), dest, moment(v.get("from")), moment(v.get("until")),
                                v.get("upgrade")))
    if not versions:
        raise KeyError("versions: at least one")
    return replace(versions[-1].destination, versions=tuple(versions))


_DESTINATION = ("destination", "name", "oin", "schema", "mapping", "events", "item", "key", "recipient", "envelope",
                "deliver", "retention", "versions")


def _destination(d: dict) -> Destination:
    known(d, _DESTINATION, "")
    if "versions" in d:
        return _versioned(d)
    deliver = dict(d.get("deliver") or {})
    common = {k: deliver.pop(k) for k in _COMMON if k in deliver}
    _not_misspelt(deliver, _COMMON, "deliver: ")
    typed = {k: type(getattr(Destination, k))(common.pop(k)) for k in _LIMITS if k in common}
    return Destination(
        destination=d["destination"], name=d["name"], oin=str(d["oin"]), schema=d["schema"],
        mapping=d["mapping"], events=tuple(d["events"]), item=d["item"], key=d["key"],
        recipient=d["recipient"], envelope=dict(d["envelope"]), folder=common.pop("folder"),
        max_attempts=int(common.pop("max_attempts", 10)), alert_above=int(common.pop("alert_above", 0)),
        on_arrival=bool(common.pop("on_arrival", True)), senders=int(common.pop("senders", 1)),
        **common, **typed, options=deliver, retention=_retention(d, ("deliveries",)),
    )


_LIMITS = ("retry_after_max_seconds", "alert_waiting_above_seconds", "answer_max_bytes", "call_deadline_seconds",
           "concurrency")
# What every destination's deliver: section may hold; the rest configures its transport.
_COMMON = ("transport", "folder", "marker", "remote", "wsdl", "max_attempts", "alert_above", "schedule", "label",
           "connection", "on_arrival", "senders", *_LIMITS)


def load(settings: Settings) -> Registry:
    """Every adapter. A partner's that does not load is set aside in ``broken``, so that the other
    partners go on receiving; a destination's fails the whole, as routing without it would store
    events that never reach it."""
    registry = Registry()
    for path in sorted(Path(settings.adapters_dir).glob("*.yaml")):
        try:
            with open(path, encoding="utf-8") as f:
                d = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise AdapterError(f"{path.name}: not YAML: {e}") from None
        try:
            if not isinstance(d, dict):
                raise KeyError("partner or destination")
            if "partner" in d:
                p = _partner(d)
                registry.partners[p.partner] = p
            elif "destination" in d:
                dest = _destination(d)
                registry.destinations[dest.destination] = dest
            else:
                raise KeyError("partner or destination")
        except (KeyError, TypeError, ValueError) as e:
            why = f"{path.name}: {e}" if isinstance(e, UnknownSetting) else f"{path.name}: missing or wrong field {e}"
            if not isinstance(d, dict) or "destination" in d or not isinstance(d.get("partner"), str):
                raise AdapterError(why) from None
            registry.broken[d["partner"]] = why
    return registry
