"""The "Find an event" and "Chain health" pages in the Airflow UI, routes of the plugin's app.

Airflow does not protect plugin apps: every route resolves the user from Airflow's session
token and asks Airflow's auth manager, as the Deliveries page does. Reading needs read access to
the delivery DAGs; personal data (documents, what destinations wrote back, partial matches in a
search) only for users who may read Connections (operators and admins)."""
from __future__ import annotations

import asyncio
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from airflow.api_fastapi.core_api.security import get_user

from ketenhub import health, provenance
from ketenhub.orchestration import charts
from ketenhub.orchestration.ui import _may_read, _personal_data, hub
from ketenhub.orchestration.ui_layout import TABS, Tab, hub_root, page, shown, user_zone

router = APIRouter()

TABS.extend([Tab("search", "Find an event", "search"), Tab("health", "Chain health", "health")])

# What these pages add to the shared layout: the path's boxes and the charts, in its colours.
STYLE = """<style>
:root{--muted:var(--fg-muted);--panel:var(--bg-subtle);--bad:var(--error);--info:var(--brand)}
a.box{text-decoration:none;color:var(--fg)}a.box:hover{border-color:var(--link)}
.flow{display:flex;align-items:flex-start;gap:.4rem;flex-wrap:wrap;margin:.5rem 0 1rem}
.flow .col{display:flex;flex-direction:column;gap:.4rem}.flow .arrow{align-self:center;color:var(--muted);font-size:1.3rem}
.box{border:1px solid var(--border);border-left:4px solid var(--info);border-radius:6px;padding:.4rem .6rem;
background:var(--panel);min-width:11rem}.box small{display:block;color:var(--muted)}
.box.delivered{border-left-color:var(--ok)}.box.failed,.box.dead{border-left-color:var(--bad)}
.box.pending,.box.sending{border-left-color:var(--warn)}
h3{font-size:1rem;margin:1rem 0 .4rem}pre{max-height:32rem}
nav.spans{margin:.4rem 0}nav.spans a{margin-right:1rem}nav.spans a[aria-current=page]{font-weight:600;color:var(--fg)}
""" + charts.CSS + "</style>"


def when(at: datetime | None, zone: ZoneInfo) -> str:
    return shown(at, zone, seconds=True) or "–"


def _root(request: Request) -> str:
    return hub_root(request).rstrip("/")


MASKED = "<p class='note'>Personal data is masked: you may not see it.</p>"


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, user=Depends(get_user), q: str = ""):
    _may_read(user)
    personal = _personal_data(user)
    root, zone = _root(request), user_zone(request)
    how = ("the whole value or its start" if personal else
           "the whole value (you may not see personal data, so a part of a value finds nothing)")
    form = (f"<form method='get'><input name='q' value='{escape(q)}' size='44' aria-label='search' autofocus "
            f"placeholder='BerichtId, parketnummer, registratienummer or Ketenreferentie'> "
            f"<button type='submit'>Find</button></form><p class='muted'>Searches by {how}.</p>")
    if not q.strip():
        return page(request, "Find an event", STYLE + form, "search")
    found, behind = await asyncio.to_thread(provenance.find, hub(), q, personal)
    rows = "".join(
        f"<tr><td><a href='{root}/{'events' if f.kind == 'event' else 'quarantined'}/{f.id}'>"
        f"{escape(f.bericht_id or '(whole payload)')}</a></td><td>{escape(f.partner)}</td>"
        f"<td>{'accepted' if f.kind == 'event' else 'refused (quarantine)'}</td><td>{escape(f.matched)}</td>"
        f"<td>{when(f.at, zone)}</td></tr>" for f in found)
    result = (f"<p>{len(found)} found{' (the newest 100)' if len(found) >= 100 else ''}.</p>"
              "<table><tr><th>event</th><th>partner</th><th>what became of it</th><th>matched by</th>"
              f"<th>received</th></tr>{rows}</table>") if found else "<p class='note'>Nothing found.</p>"
    if behind:
        result = ("<p class='note warn'>Events stored in the last minutes may not be found yet: the hub is still "
                  "indexing a big delivery of events (the ketenhub_health DAG does it every five minutes).</p>" + result)
    return page(request, "Find an event", STYLE + form + result, "search")


def _trail(rows, zone: ZoneInfo) -> str:
    return "<table><tr><th>when</th><th>who</th><th>what</th><th>detail</th></tr>" + "".join(
        f"<tr><td>{when(r['at'], zone)}</td><td>{escape(r['actor'])}</td><td>{escape(r['subject'])} {r['subject_id']}: "
        f"{escape(r['action'])}</td><td>{escape(r['detail'] or '')}</td></tr>" for r in rows) + "</table>"


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _doc(text: str | None) -> str:
    return f"<pre>{escape(text)}</pre>" if text is not None else "<p class='muted'>Purged by retention.</p>"


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def event_page(request: Request, event_id: int, user=Depends(get_user)):
    _may_read(user)
    personal = _personal_data(user)
    e = await asyncio.to_thread(provenance.of_event, hub(), event_id, personal)
    if e is None:
        raise HTTPException(404, "no such event")
    root, zone, p = _root(request), user_zone(request), e["payload"]
    boxes = "".join(
        f"<a class='box {d['state']}' href='#delivery-{d['id']}'>{escape(d['destination'])}: "
        f"<span class='state state-{d['state']}'>{d['state']}</span><small>{_n(d['attempts'], 'attempt')} · "
        f"{_n(len(d['trail']), 'step')}</small></a>" for d in e["deliveries"]) or "<div class='box'>routed nowhere</div>"
    flow = (f"<div class='flow' aria-label='path'><a class='box' href='#payload'>payload {p['id']}"
            f"<small>{escape(p['name'])}</small></a><span class='arrow'>→</span>"
            f"<a class='box' href='#canonical'>event {e['id']} (canonical)<small>{escape(e['soort'])}</small></a>"
            f"<span class='arrow'>→</span><div class='col'>{boxes}</div></div>")
    sections = [
        flow, "" if personal else MASKED,
        f"<h2 id='payload'>Inbound payload</h2><table><tr><th>payload</th><td><a href='{root}/payloads/{p['id']}'>"
        f"{p['id']}: {escape(p['name'])}</a></td></tr><tr><th>partner</th><td>{escape(p['partner'])}</td></tr>"
        f"<tr><th>received</th><td>{when(p['received_at'], zone)}</td></tr><tr><th>state</th><td>{escape(p['state'])}"
        f"</td></tr><tr><th>events</th><td>{p['accepted']} accepted, {p['rejected']} refused, {p['duplicate']} "
        f"already received</td></tr><tr><th>sha256</th><td><code>{p['sha256']}</code></td></tr></table>",
        f"<section id='canonical'><h2>Canonical document</h2><p class='muted'>{escape(e['partner'])} {escape(e['bericht_id'])}, "
        f"{escape(e['kind'])} {escape(e['soort'])}, accepted {when(e['received_at'], zone)}</p>{_doc(e['canonical'])}</section>",
        f"<h2>What happened to the event</h2>{_trail(e['trail'], zone)}"]
    for d in e["deliveries"]:
        sections.append(
            f"<section id='delivery-{d['id']}'><h2>Delivery {d['id']} to {escape(d['destination'])}: "
            f"<span class='state state-{d['state']}'>{d['state']}</span></h2><table>"
            f"<tr><th>delivery</th><td><a href='{root}/deliveries/{d['id']}'>{d['id']} on the Deliveries page</a></td></tr>"
            f"<tr><th>recipient</th><td>{escape(d['recipient'])}</td></tr><tr><th>idempotency key</th>"
            f"<td>{escape(d['key'])}</td></tr><tr><th>attempts</th><td>{d['attempts']}</td></tr>"
            f"<tr><th>batch</th><td>{escape(d['batch'] or '–')}</td></tr>"
            f"<tr><th>next attempt</th><td>{when(d['next_attempt_at'], zone) if d['state'] == 'pending' else '–'}</td></tr>"
            f"<tr><th>last error</th><td>{escape(d['last_error'] or '–')}</td></tr></table>"
            f"<h3>Attempts and outcomes</h3>{_trail(d['trail'], zone)}<h3>Outbound item</h3>{_doc(d['document'])}</section>")
    if e["others"]:
        sections.append(f"<h2>Refused with the same BerichtId</h2>{_trail(e['others'], zone)}")
    return page(request, f"Event {e['bericht_id']} from {e['partner']}",
                f"{STYLE}<p><a href='{root}/search'>← Find an event</a></p>" + "".join(sections), "search")


@router.get("/quarantined/{item_id}", response_class=HTMLResponse)
async def quarantined_page(request: Request, item_id: int, user=Depends(get_user)):
    _may_read(user)
    personal = _personal_data(user)
    q = await asyncio.to_thread(provenance.of_quarantined, hub(), item_id, personal)
    if q is None:
        raise HTTPException(404, "no such quarantined event")
    root, zone, p = _root(request), user_zone(request), q["payload"]
    later = (f"<p class='note'>Accepted later: <a href='{root}/events/{q['accepted_event']}'>event "
             f"{q['accepted_event']}</a>.</p>" if q["accepted_event"] else "")
    raw = f"<h2>As sent</h2><pre>{escape(q['raw'])}</pre>" if q["raw"] is not None else (
        "<p class='muted'>A whole payload: its bytes are the payload's.</p>")
    body = (f"{STYLE}<p><a href='{root}/search'>← Find an event</a></p>{'' if personal else MASKED}{later}<table>"
            f"<tr><th>payload</th><td><a href='{root}/payloads/{p['id']}'>{p['id']}: {escape(p['name'])}</a></td></tr>"
            f"<tr><th>partner</th><td>{escape(q['partner'])}</td></tr><tr><th>refused</th><td>{when(q['created_at'], zone)}"
            f"</td></tr><tr><th>state</th><td>{escape(q['state'])}</td></tr><tr><th>line</th><td>{q['line'] or '–'}"
            f"</td></tr></table><h2>Why</h2><pre>{escape(q['reason'])}</pre>{raw}<h2>Trail</h2>{_trail(q['trail'], zone)}")
    return page(request, f"Refused event {q['bericht_id'] or '(whole payload)'} from {q['partner']}", body, "search")


@router.get("/payloads/{payload_id}", response_class=HTMLResponse)
async def payload_page(request: Request, payload_id: int, user=Depends(get_user)):
    _may_read(user)
    personal = _personal_data(user)
    found = await asyncio.to_thread(provenance.payload_text, hub(), payload_id, personal)
    if found is None:
        raise HTTPException(404, "no such payload")
    p, content = found
    zone = user_zone(request)
    shown = f"<pre>{escape(content)}</pre>" if content is not None else (
        "<p class='muted'>Not shown: no longer kept, or larger than 1 MB.</p>")
    return page(request, f"Payload {p['id']}: {p['name']}", f"{STYLE}<p><a href='{_root(request)}/search'>← Find an event</a></p>"
                f"{'' if personal else MASKED}<p>{escape(p['partner'])}, received {when(p['received_at'], zone)}, "
                f"{p['size']} bytes, {escape(p['state'])}: {p['accepted']} events accepted, {p['rejected']} refused, "
                f"{p['duplicate']} already received.</p>{shown}")


@router.get("/health", response_class=HTMLResponse)
async def health_page(request: Request, user=Depends(get_user), span: str = "day"):
    _may_read(user)
    if span not in health.SPANS:
        span = "day"
    zone = user_zone(request)
    f, now_ = await asyncio.gather(asyncio.to_thread(health.figures, hub(), span, None, zone),
                                   asyncio.to_thread(health.backlog, hub()))
    b, s = f.buckets, span
    tabs = "<nav class='spans'>" + "".join(
        f"<a href='?span={k}'{' aria-current=page' if k == span else ''}>{label}</a>"
        for k, label in (("day", "last day, per hour"), ("weeks", "last 4 weeks, per day"))) + "</nav>"
    rows = "".join(
        f"<tr><td>{escape(d)}</td><td>{x.pending}</td><td>{x.waiting}</td><td>{x.in_trouble}</td>"
        f"<td>{charts.duration(x.oldest_seconds)}</td></tr>" for d, x in now_.items())
    parts = [tabs, "<h2>Backlog now</h2><table><tr><th>destination</th><th>to deliver</th>"
             "<th>of which waiting to retry</th><th>failed or dead</th><th>oldest waiting</th></tr>"
             f"{rows}</table>", "<h2>Partners</h2><div class='charts'>"]
    for p, x in f.partners.items():
        parts.append(charts.chart(f"{p}: events", b, s,
                                  [("received", x["received"], "s-info"), ("refused", x["rejected"], "s-bad")]))
    parts.append("</div>")
    for d, x in f.destinations.items():
        parts += [f"<h2>{escape(d)}</h2><div class='charts'>",
                  charts.chart("delivered and failed", b, s, [("delivered", x["delivered"], "s-ok"),
                                                              ("failed or dead", x["failed"], "s-bad")]),
                  charts.chart("failure rate", b, s, [("failed of settled", x["failure_rate"], "s-bad")], "%", "line"),
                  charts.chart("time from receipt to delivery (mean)", b, s,
                               [("mean", x["seconds_to_deliver"], "s-info")], "s", "line"),
                  charts.chart("backlog (highest)", b, s, [("to deliver", x["backlog"], "s-warn")], kind="line"),
                  charts.chart("oldest waiting delivery", b, s, [("age", x["oldest_seconds"], "s-warn")], "s", "line"),
                  "</div>"]
    return page(request, "Chain health", STYLE + "".join(parts), "health")
