"""ketenhub: the command line for integration engineers and operators.

    ketenhub ingest --partner om PATH...      files, or a folder (then the partner's drop-folder rules apply)
    ketenhub receive [--partner om]           what is ready over the partner's transport (Connection ketenhub_<partner>)
    ketenhub deliver [--destination kbsp]     send pending deliveries
    ketenhub status                           counts per state
    ketenhub trace BERICHTID                  everything that happened to one event
    ketenhub validate --partner om FILE       plain-words errors; exit code 1 when invalid
    ketenhub deliveries list|show|replay      deliveries in trouble (replay needs --reason, asks to confirm the count)
    ketenhub quarantine list|reprocess        quarantined events, again through the pipeline after a fix
    ketenhub cursor show|clear --partner shn  a polled partner's stored cursor; clear (with --reason) restarts it
    ketenhub simulate                         every partner and destination simulator, with demo traffic
    ketenhub serve [--partner cjib]           the hub's own SOAP service for partners that call it (two-way TLS)
    ketenhub keys init                        create the Ketenreferentie's secret key (Airflow Variable) if absent
    ketenhub audit verify [--head ID:SHA256]  walk the audit trail's hash chain; exit code 1 when broken
    ketenhub audit calls [--limit N]          the partners' calls to the hub's service that were refused, and why
    ketenhub retention run [--dry-run]        purge personal data past each adapter's retention period
    ketenhub privacy report --bsn -           what the hub holds about one person, its BSN on stdin (audited)
    ketenhub adapter new NAME --like om       a new partner's adapter, mapping and samples, TODOs marked
    ketenhub adapter check NAME               what a partner still lacks, in plain words; exit code 1 if anything
    ketenhub cases conflicts                  cases for which two Ketenreferenties were published; exit code 1 if any

All state lives under KETENHUB_HOME (default: var/hub in the project).
"""
from __future__ import annotations

import argparse
import getpass
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import case, func, literal, select

from ketenhub import pipeline, wiring
from ketenhub.clock import AMSTERDAM, local_time
from ketenhub.adapters import AdapterError
from ketenhub.store.audit import payload_names, trace
from ketenhub.hub import Hub
from ketenhub.keys import MissingKey
from ketenhub.names import shown
from ketenhub.pipeline import ingest_source
from ketenhub.receive.folder import DropFolder, Files
from ketenhub.states import EVERY_EVENT_REJECTED, PayloadState
from ketenhub.store.tables import delivery, event, every_event_rejected, payload, quarantine
from ketenhub.wiring import deliver


def _reported(reports: list, nothing: str) -> int:
    for r in reports:
        print(r.text())
    if not reports:
        print(nothing)
    return 1 if any(r.state == PayloadState.REJECTED or r.rejected for r in reports) else 0


def cmd_ingest(hub: Hub, args) -> int:
    partner = hub.registry.partner(args.partner)
    reports = []
    for path in map(Path, args.paths):
        if path.is_dir():
            source = DropFolder(path, partner.receive)
        elif path.is_file():
            source = Files([path], partner.receive)
        else:
            print(f"{shown(str(path))}: no such file or folder", file=sys.stderr)
            return 2
        reports += ingest_source(hub, partner, source)
    return _reported(reports, "nothing to ingest (no complete files found)")


def cmd_receive(hub: Hub, args) -> int:
    from ketenhub.protocols.sftp import HostKeyError
    from ketenhub.receive.rest import FeedAlert, FeedUnavailable, PageRejected
    from ketenhub.receive.sftp import DownloadFailed

    names = [args.partner] if args.partner else sorted(hub.registry.partners)
    reports = []
    try:
        for name in names:
            reports += wiring.receive(hub, hub.registry.partner(name))
    except (HostKeyError, DownloadFailed, FeedAlert, FeedUnavailable, PageRejected) as e:  # one clear line
        for r in reports:  # the partners received before
            print(r.text())
        print(f"ketenhub: {e}", file=sys.stderr)
        return 1
    done = _reported(reports, "nothing ready")
    if not args.partner and hub.registry.broken:  # received from the others; these are not
        for why in (hub.registry.broken[p] for p in sorted(hub.registry.broken)):
            print(f"ketenhub: not received, its adapter does not load: {why}", file=sys.stderr)
        return 1
    return done


def cmd_deliver(hub: Hub, args) -> int:
    from ketenhub.monitoring import attempts

    names = [args.destination] if args.destination else sorted(hub.registry.destinations)
    failed = 0
    for name in names:
        dest = hub.registry.destination(name)
        report = deliver(hub, dest)
        failed += report.failed + report.dead
        print(f"{name}: {report.delivered} delivered, {report.retry} to retry, {report.failed} failed"
              + (f", {report.dead} dead (given up after {attempts(dest.max_attempts)})" if report.dead else "")
              + (f" ({', '.join(report.batches)})" if report.batches else ""))
    return 1 if failed else 0


def cmd_status(hub: Hub, args) -> int:
    # A payload stored all of whose events were rejected reads as its ingest said, not as accepted.
    payload_state = case((every_event_rejected, literal(EVERY_EVENT_REJECTED)), else_=payload.c.state)
    with hub.engine.connect() as conn:
        for title, table, by, state in (
                ("payloads", payload, payload.c.partner, payload_state),
                ("events", event, event.c.partner, event.c.state),
                ("quarantine", quarantine, quarantine.c.partner, quarantine.c.state),
                ("deliveries", delivery, delivery.c.destination, delivery.c.state)):
            print(f"{title}:")
            rows = conn.execute(select(by, state, func.count()).group_by(by, state).order_by(by, state)).all()
            name_width, state_width = (max([8, *(len(row[i]) for row in rows)]) for i in (0, 1))  # columns aligned
            for name, state, n in rows:
                print(f"  {name:{name_width}} {state:{state_width}} {n:>9}")
    from ketenhub.monitoring import troubles
    for partner, why in sorted(hub.registry.broken.items()):  # its DAGs are left out meanwhile
        print(f"in trouble: {partner} receives nothing: its adapter does not load: {why}")
    for problem in troubles(hub):  # what the delivery DAGs' alerts would fail with now
        print(f"in trouble: {problem}")
    return 0


def cmd_trace(hub: Hub, args) -> int:
    from ketenhub.operations import shown_trace
    with hub.engine.connect() as conn:
        rows = shown_trace(trace(conn, args.bericht_id), args.personal_data)
        names = payload_names(conn, {r["subject_id"] for r in rows if r["subject"] == "payload"})
    if not rows:
        print(f"nothing known about BerichtId {args.bericht_id}")
        return 1
    for r in rows:
        subject = f"{r['subject']} {r['subject_id']}"
        if r["subject"] == "payload":
            subject += f" ({shown(names.get(r['subject_id']) or '')})"  # stored before names were checked
        detail = f": {r['detail']}" if r["detail"] else ""
        first = f"{_when(r['at'])}  {subject:40} "
        # A reason of several lines (one per problem) goes on under its first, not at the margin.
        print(first + f"{r['action']}{detail}".replace("\n", "\n" + " " * len(first)))
    return 0


def cmd_validate(hub: Hub, args) -> int:
    partner = hub.registry.partner(args.partner)
    report = pipeline.check(hub, partner, Path(args.file))
    report.name = shown(report.name)
    print(report.text())
    return 0 if report.state == "valid" else 1


# Times on the command line: read and shown in the hub's zone (the Airflow UI's default), with it.
def _when(at) -> str:
    return local_time(at, seconds=True) or "-"


def _filter(args):
    from ketenhub.operations import Filter, kinds

    def parse(v):
        if not v:
            return None
        try:
            at = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"--since/--until {v!r}: not a time; write it as 2026-12-07 or 2026-12-07T14:30 "
                             "(Amsterdam time), or with an offset (+01:00)") from None
        return (at if at.tzinfo else at.replace(tzinfo=AMSTERDAM)).astimezone(timezone.utc)
    return Filter(ids=tuple(args.ids or ()), destination=args.destination, partner=args.partner,
                  error=args.error, since=parse(args.since), until=parse(args.until),
                  personal_data=args.personal_data, states=kinds(args.state))


def _confirmed(args, question: str) -> bool:
    """A bulk action goes ahead with --yes, or when the operator answers y to a question naming the count."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question} Not done: add --yes to confirm (or --dry-run to count only).", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_deliveries(hub: Hub, args) -> int:
    from dataclasses import replace

    from ketenhub import operations as ops
    if args.action == "list":
        f = _filter(args)
        counts = ops.counts(hub, replace(f, states=ops.KINDS))
        total = ops.count_deliveries(hub, f)
        rows = ops.list_deliveries(hub, f, args.limit, personal_data=args.personal_data, offset=args.offset,
                                   sort=args.sort, descending=args.desc)
        width = _width(r["partner"] for r in rows)
        for r in rows:
            nxt = f" next={_when(r['next_attempt_at'])}" if r["state"] == "pending" else ""
            print(f"{r['id']:>7} {r['destination']:5} {r['partner']:{width}} {r['bericht_id']:30} {r['kind']:8} "
                  f"attempts={r['attempts']:<3} changed={_when(r['updated_at'])}{nxt}  {(r['last_error'] or '')[:100]}")
        print(f"{len(rows)} of {total} matching shown (from {args.offset + 1 if rows else 0}); in trouble: "
              + ", ".join(f"{k} {n}" for k, n in counts.items()) + f"; times in {AMSTERDAM.key}")
        return 0
    if args.action == "show":
        d = ops.show_delivery(hub, args.ids[0], personal_data=args.personal_data)
        if d is None:
            print(f"no delivery {args.ids[0]}", file=sys.stderr)
            return 1
        for k in ("id", "destination", "recipient", "partner", "bericht_id", "idempotency_key", "state",
                  "attempts", "last_error", "next_attempt_at", "created_at", "updated_at"):
            print(f"{k:16} {_when(d[k]) if k.endswith('_at') else d[k]}")
        print("trace:")
        for r in d["trace"]:
            print(f"  {_when(r['at'])} {r['subject']} {r['subject_id']} {r['action']}"
                  + (f": {r['detail']}" if r["detail"] else ""))
        print("document:")
        print(d["document"] or "(purged by retention)")
        return 0
    f = _filter(args)
    actor = f"cli:{getpass.getuser()}"
    n = ops.replay(hub, f, actor=actor, reason=args.reason or "", dry_run=True)
    if args.dry_run:
        print(f"{n} deliveries would be replayed")
        return 0
    if not n:  # named ones that are not there, delivered or being sent: it says so, and it is no success
        print("0 deliveries replayed: none that matches is failed, dead, retrying, waiting or pending"
              + (" (see `ketenhub deliveries show ID`)" if f.ids else ""), file=sys.stderr)
        return 1 if f.ids else 0
    if not _confirmed(args, f"Replay {n} deliveries?"):
        return 1
    done = ops.replay(hub, replace(f, destinations=tuple(ops.destinations_matching(hub, f))), actor=actor,
                      reason=args.reason or "")
    print(f"{done} deliveries replayed")
    return 0


def cmd_quarantine(hub: Hub, args) -> int:
    from ketenhub import operations as ops
    if args.action == "list":
        f = ops.QuarantineFilter(partner=args.partner, reason=args.reason_text)
        rows = ops.list_quarantine(hub, f, limit=args.limit, offset=args.offset)
        width = _width(r["partner"] for r in rows)
        for r in rows:
            print(f"{r['id']:>7} {_when(r['created_at'])} {r['partner']:{width}} {r['bericht_id'] or '(payload)':30} "
                  + (f"event from line {r['line']}" if r["line"] else ""))  # its reason names the element's own line
            print("\n".join(f"        {line}" for line in r["reason"].splitlines()))
        print(f"{len(rows)} of {ops.count_quarantine(hub, f)} open items shown; times in {AMSTERDAM.key}")
        return 0
    ids = list(args.ids)
    if not ids:  # every open item the filter selects, the count confirmed below
        if not (args.partner or args.reason_text):
            print("name the items to re-process (IDs), or choose them with --partner and --reason-text",
                  file=sys.stderr)
            return 2
        f = ops.QuarantineFilter(partner=args.partner, reason=args.reason_text)
        ids = [r["id"] for r in ops.list_quarantine(hub, f, limit=None)]
    if not args.dry_run and len(ids) > 1 and not _confirmed(args, f"Re-process {len(ids)} items?"):
        return 1
    outcome = ops.reprocess(hub, ids, actor=f"cli:{getpass.getuser()}", reason=args.reason or "",
                            dry_run=args.dry_run)
    print("\n".join(outcome.lines()))
    return 0 if not outcome.still_rejected else 1


def cmd_cursor(hub: Hub, args) -> int:
    from ketenhub.store.cursor import ReceiveCursor
    cursor = ReceiveCursor(hub.engine, hub.registry.partner(args.partner).partner)
    if args.action == "clear":
        cursor.clear(f"cli:{getpass.getuser()}", args.reason or "")
        print(f"{args.partner}: cursor cleared; the next run starts at the oldest event the partner holds")
        return 0
    print(f"{args.partner}: position {cursor.position()}, cursor {'(none)' if cursor.token() is None else 'stored'}")
    return 0


def cmd_simulate(hub: Hub, args) -> int:
    from ketenhub.simulators import demo

    workdir = Path(args.workdir or hub.settings.home / "simulators")
    cvom = hub.settings.path(hub.registry.partner("cvom").receive.folder)
    print(f"simulators under {workdir}; Airflow Connections in {workdir / 'connections.json'}", flush=True)
    try:
        demo.run(workdir, cvom, interval=args.interval)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_serve(hub: Hub, args) -> int:
    from ketenhub.serve import Server, service_from_connections

    partner = hub.registry.partner(args.partner)
    if partner.receive.transport != "push":
        raise ValueError(f"{partner.partner} does not call the hub (its adapter's receive.transport is "
                         f"{partner.receive.transport}, not push)")
    server = Server(service_from_connections(hub, partner), args.host, args.port)
    print(f"{partner.name} {partner.receive.operation} at https://{args.host or server.socket.getsockname()[0]}:"
          f"{server.port}{partner.receive.path}", flush=True)
    server.run()
    return 0


def cmd_keys(hub: Hub, args) -> int:
    from ketenhub import keys
    created = keys.init()
    print(f"Airflow Variable {keys.VARIABLE}: " + ("created" if created else "exists, left as it is"))
    return 0
def cmd_audit(hub: Hub, args) -> int:
    from ketenhub.store.audit_chain import Head, verify
    if args.action == "calls":
        from ketenhub.store.audit import refused_calls
        with hub.engine.connect() as conn:
            rows = refused_calls(conn, args.limit)
        for at, detail in rows:
            print(f"{local_time(at, seconds=True)}  {detail}")
        print(f"{len(rows)} refused call(s) shown, newest first; times in {AMSTERDAM.key}")
        return 0
    logged = None
    if args.head:
        last_id, _, digest = args.head.partition(":")
        try:
            logged = Head(int(last_id), bytes.fromhex(digest), "on the command line")
        except ValueError:
            raise ValueError(f"--head: expected ID:SHA256 as the nightly DAG logs it, got {args.head!r}") from None
    verdict = verify(hub.engine, logged)
    print(verdict.text())
    return 0 if verdict.intact else 1


def cmd_retention(hub: Hub, args) -> int:
    from ketenhub.store.retention import run
    report = run(hub, dry_run=args.dry_run, actor=f"retention by {getpass.getuser()}"[:64],
                 archives=wiring.archives(hub))
    print("\n".join(report.lines()))  # counts only: nothing personal
    return 0


def cmd_privacy(hub: Hub, args) -> int:
    from ketenhub.store.retention import privacy_report
    bsn = sys.stdin.readline().strip() if args.bsn == "-" else args.bsn  # "-": kept out of shell history
    marker, held = privacy_report(hub, bsn, getpass.getuser()[:64], archives=wiring.archives(hub))
    print(f"privacy report for BSN pseudonym {marker}: {len(held)} items (this request is in the audit trail)")
    width = _width(h.who for h in held)
    for h in held:
        at = h.at.strftime("%Y-%m-%d %H:%M") if h.at else "-"
        print(f"  {h.kind:<10} {h.id:>8}  {h.who:<{width}}  {at}  {h.state:<10}  {h.note}".rstrip())
    return 0


def _width(names) -> int:
    """A column of partner or destination names as wide as the longest (schadefonds: 11), at least 8."""
    return max([8, *(len(n) for n in names)])


def cmd_adapter(hub: Hub, args) -> int:
    from ketenhub import kit
    from ketenhub.connections import endpoint

    if args.action == "new":
        if not args.like:
            print("ketenhub: adapter new needs --like PARTNER (om, cvom, politie, ...)", file=sys.stderr)
            return 2
        try:
            written = kit.new(hub.settings, args.name, args.like)
        except kit.KitError as e:
            print(f"ketenhub: {e}", file=sys.stderr)
            return 2
        for path in written:
            print(f"wrote {path.relative_to(hub.settings.project)}")
        print(f"next: fill in every TODO, put the contract under schemas/{args.name}/, then "
              f"`ketenhub adapter check {args.name}` (README, \"Adding a partner\")")
        return 0
    reports = []  # the partner's, and the destination's of that name (CJIB is both)
    if args.name in hub.registry.partners or args.name in hub.registry.broken or \
            args.name not in hub.registry.destinations:
        reports.append(kit.check(hub.settings, args.name, connection=endpoint))
    if args.name in hub.registry.destinations:
        reports.append(kit.check_destination(hub.settings, args.name))
    names = [args.name, f"{args.name} (destination)"] if len(reports) == 2 else [args.name]
    print("\n".join(kit.report(name, checks) for name, checks in zip(names, reports)))
    return 0 if all(c.passed for checks in reports for c in checks) else 1


def cmd_cases(hub: Hub, args) -> int:
    from ketenhub.store.cases import conflicts
    found = conflicts(hub.engine)
    if not found:
        print("no case with two Ketenreferenties: every link of a registratienummer to a parketnummer came "
              "before any status under the registratienummer alone")
        return 0
    print(f"{len(found)} cases for which two Ketenreferenties were published to KbSP (statuses went out under the "
          f"registratienummer before an event linked it to its parketnummer):")
    for c in found:
        print(f"  registratienummer {c.registratienummer} = parketnummer {c.parketnummer}, linked {_when(c.linked_at)} "
              f"by {c.partner} {c.bericht_id}")
        print(f"    published under the registratienummer: {', '.join(c.before)}")
        print(f"    under the parketnummer:                 {', '.join(c.after) or '(none yet)'}")
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ketenhub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress (never personal data)")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="ingest files or a drop folder")
    p.add_argument("--partner", required=True)
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("receive", help="receive what is ready over each partner's configured transport")
    p.add_argument("--partner")
    p.set_defaults(func=cmd_receive)
    p = sub.add_parser("deliver", help="send pending deliveries")
    p.add_argument("--destination")
    p.set_defaults(func=cmd_deliver)
    sub.add_parser("status", help="counts per state").set_defaults(func=cmd_status)
    p = sub.add_parser("trace", help="everything that happened to one event")
    p.add_argument("bericht_id")
    p.add_argument("--personal-data", action="store_true", help="show what destinations wrote back in full")
    p.set_defaults(func=cmd_trace)
    p = sub.add_parser("validate", help="check a file without storing it")
    p.add_argument("--partner", required=True)
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("deliveries", help="failed and dead deliveries: list, show, replay")
    p.add_argument("action", choices=["list", "show", "replay"])
    p.add_argument("ids", nargs="*", type=int, help="delivery ids (show: one)")
    p.add_argument("--destination")
    p.add_argument("--partner")
    p.add_argument("--error", help="part of the last error")
    p.add_argument("--since", help="ISO time, Amsterdam time unless it has an offset: changed at or after")
    p.add_argument("--until", help="ISO time, Amsterdam time unless it has an offset: changed at or before")
    p.add_argument("--state", help="comma-separated: failed, dead, retrying (pending after a failed attempt), "
                                   "waiting (pending long, never tried), pending (all); default the first four")
    p.add_argument("--sort", default="id", help="list: id, destination, partner, event, state, attempts, changed, "
                                                "next, created")
    p.add_argument("--desc", action="store_true", help="list: in descending order")
    p.add_argument("--limit", type=int, default=500, help="list: how many (default 500)")
    p.add_argument("--offset", type=int, default=0, help="list: skip this many first (paging)")
    p.add_argument("--reason", help="replay: why (written to the audit trail)")
    p.add_argument("--dry-run", action="store_true", help="replay: only count")
    p.add_argument("--yes", action="store_true", help="replay: do not ask to confirm the count")
    p.add_argument("--personal-data", action="store_true",
                   help="do not mask personal data (documents, what destinations wrote back; --error searches it)")
    p.set_defaults(func=cmd_deliveries)
    p = sub.add_parser("quarantine", help="quarantined events: list, reprocess after a fix")
    p.add_argument("action", choices=["list", "reprocess"])
    p.add_argument("ids", nargs="*", type=int)
    p.add_argument("--partner", help="list, and reprocess without IDs: its items only")
    p.add_argument("--reason-text", help="list, and reprocess without IDs: part of the reason")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--reason", help="reprocess: why (written to the audit trail)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--yes", action="store_true", help="reprocess: do not ask to confirm the count")
    p.set_defaults(func=cmd_quarantine)
    p = sub.add_parser("cursor", help="a polled partner's cursor: show, or clear it (the partner said it is too old)")
    p.add_argument("action", choices=["show", "clear"])
    p.add_argument("--partner", required=True)
    p.add_argument("--reason", help="clear: why, for the audit trail")
    p.set_defaults(func=cmd_cursor)
    p = sub.add_parser("simulate", help="run every partner and destination simulator, with demo traffic")
    p.add_argument("--workdir", help="default: $KETENHUB_HOME/simulators")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between new demo events")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("serve", help="serve the hub's SOAP service for a partner that calls the hub (CJIB)")
    p.add_argument("--partner", default="cjib")
    p.add_argument("--host", help="address to listen on (default: the Connection ketenhub_serve's host)")
    p.add_argument("--port", type=int, help="default: the Connection ketenhub_serve's port, else 8443")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("keys", help="init: create the Ketenreferentie's key (Airflow Variable) unless it exists")
    p.add_argument("action", choices=["init"])
    p.set_defaults(func=cmd_keys)
    p = sub.add_parser("audit", help="verify: check that the audit trail was not changed; calls: refused calls")
    p.add_argument("action", choices=["verify", "calls"])
    p.add_argument("--head", help="also compare with a head logged earlier by ketenhub_audit_verify (ID:SHA256)")
    p.add_argument("--limit", type=int, default=20, help="calls: how many, newest first (default 20)")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("retention", help="purge personal data past each adapter's retention period")
    p.add_argument("action", choices=["run"])
    p.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    p.set_defaults(func=cmd_retention)
    p = sub.add_parser("privacy", help="report: what the hub holds about one person, for an inzageverzoek")
    p.add_argument("action", choices=["report"])
    p.add_argument("--bsn", required=True, help="the person's BSN; - reads it from standard input")
    p.set_defaults(func=cmd_privacy)
    p = sub.add_parser("adapter", help="new: start a partner from one of its kind; check: what it still lacks")
    p.add_argument("action", choices=["new", "check"])
    p.add_argument("name", help="the partner's short name (adapters/NAME.yaml); check: a destination's too")
    p.add_argument("--like", help="new: the existing partner of the same kind (om, cvom, politie, ...)")
    p.set_defaults(func=cmd_adapter)
    p = sub.add_parser("cases", help="conflicts: cases for which two Ketenreferenties were published")
    p.add_argument("action", choices=["conflicts"])
    p.set_defaults(func=cmd_cases)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:  # the store's migrations, at a new store's first command: a line each
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return args.func(Hub(), args)
    except (AdapterError, ValueError, MissingKey, FileNotFoundError) as e:  # what to set up, in a line
        print(f"ketenhub: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
