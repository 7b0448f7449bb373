"""The "Deliveries" and "Quarantine" pages in the Airflow UI (a FastAPI app mounted by the
ketenhub plugin), in the layout of ketenhub.orchestration.ui_layout.

Airflow does not protect plugin apps: every route here resolves the user from Airflow's own
session token and asks Airflow's auth manager. Reading needs read access to the delivery DAGs;
replaying needs the right to trigger the delivery DAG of every destination involved;
re-processing quarantine needs the right to trigger the partner's receiving DAG, checked for
every item asked; personal data (documents, and whatever a destination wrote back in an error)
is shown unmasked only to users who may read Connections (operators and admins). A POST must
come from a page of this server (Origin, else Referer): another site cannot make a logged-in
user's browser replay or re-process.

Every bulk action goes through a confirmation page that names how many items it touches
(the dry run); every POST answers with a redirect to a page (post/redirect/get), so a reload
never sends a form again. Times are shown and read in the user's Airflow time zone."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from html import escape
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Query as Param, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import get_user

from ketenhub import operations as ops
from ketenhub.hub import Hub
from ketenhub.orchestration.dags import dag_id
from ketenhub.orchestration.ui_layout import (hub_root, install_error_pages, local_input, page, read_local,
                                              run_link, shown, user_zone)

app = FastAPI(title="Ketenhub", docs_url=None, redoc_url=None, openapi_url=None)
install_error_pages(app)
_hub: Hub | None = None
_adapters_seen: tuple | None = None
PAGE_SIZES = (10, 25, 50, 100, 200)


def hub() -> Hub:
    """The hub, its adapter definitions read again when a file under adapters/ was added, removed
    or changed (a stat per file): a new partner shows without restarting Airflow."""
    global _hub, _adapters_seen
    if _hub is None:
        _hub = Hub()
    folder = _hub.settings.adapters_dir
    seen = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.yaml")))
    if seen != _adapters_seen:
        _hub.__dict__.pop("registry", None)  # functools.cached_property: read again on next use
        _adapters_seen = seen
    return _hub


def _may(user, method: str, dag_id: str) -> bool:
    return get_auth_manager().is_authorized_dag(method=method, access_entity=DagAccessEntity.RUN,
                                                details=DagDetails(id=dag_id), user=user)


def _may_read(user) -> None:
    if not any(_may(user, "GET", dag_id("deliver", d)) for d in hub().registry.destinations):
        raise HTTPException(403, "you may not read the delivery DAGs")


def _may_replay_any(user) -> bool:
    return any(_may(user, "POST", dag_id("deliver", d)) for d in hub().registry.destinations)


def _may_reprocess_any(user) -> bool:
    return any(_may(user, "POST", dag_id("receive", p)) for p in hub().registry.partners)


def _personal_data(user) -> bool:
    return get_auth_manager().is_authorized_connection(method="GET", user=user)


def _same_origin(request: Request) -> None:
    """Browsers send Origin with every form POST (an old one sends at least Referer); a POST
    with neither, or from another host, is refused: the session cookie alone proves nothing."""
    source = request.headers.get("origin") or request.headers.get("referer")
    hosts = {request.headers.get("host", "").lower()}
    from airflow.configuration import conf
    base_url = conf.get("api", "base_url", fallback=None)
    if base_url:
        hosts.add(urlsplit(base_url).netloc.lower())
    if not source or urlsplit(source).netloc.lower() not in hosts - {""}:
        raise HTTPException(403, "refused: this form may only be sent from the Deliveries page of this server")


def _see_other(request: Request, path: str, params: list[tuple[str, str]]) -> RedirectResponse:
    query = urlencode([(k, v) for k, v in params if v not in ("", None)])
    return RedirectResponse(f"{hub_root(request)}{path}" + (f"?{query}" if query else ""), status_code=303)


def _number(n: int) -> str:
    return f"{n:,}"


def _deliveries(n: int) -> str:
    return f"{_number(n)} {'delivery' if n == 1 else 'deliveries'}"


def _items(n: int) -> str:
    return f"{_number(n)} {'item' if n == 1 else 'items'}"


# ---------------------------------------------------------------- deliveries

FILTER_FIELDS = ("destination", "partner", "state", "error", "since", "until")
NOTICES = {"no-selection": "Select at least one delivery, or use “Replay all matching”.",
           "no-reason": "A replay needs a reason, for the audit trail.",
           "changed": "The number of matching deliveries changed since the confirmation: check it again.",
           "nothing": "Nothing was replayed: no delivery matches (any more)."}


class Query:
    """The Deliveries page's filter, paging and selection, as the address carries them."""

    def __init__(self, request: Request, values: dict):
        self.request = request
        self.values = {k: str(values.get(k) or "") for k in FILTER_FIELDS}
        self.zone = user_zone(request)

    def filter(self, personal: bool, ids=()) -> ops.Filter:
        v = self.values
        state = v["state"]
        states = (state,) if state in (*ops.KINDS, "pending") else ops.KINDS
        return ops.Filter(ids=tuple(ids), destination=v["destination"] or None, partner=v["partner"] or None,
                          states=states, error=v["error"] or None, since=read_local(v["since"], self.zone),
                          until=read_local(v["until"], self.zone), personal_data=personal)

    def params(self, **extra) -> list[tuple[str, str]]:
        out = [(k, v) for k, v in self.values.items() if v]
        for k, v in extra.items():
            out += [(k, str(x)) for x in v] if isinstance(v, (list, tuple)) else [(k, str(v))]
        return [(k, v) for k, v in out if v not in ("", "None")]


def _filter_or_notice(q: Query, personal: bool, ids=()) -> tuple[ops.Filter | None, str]:
    try:
        return q.filter(personal, ids), ""
    except ValueError as e:  # a time typed wrong: said in words, the rest of the page as it was
        return None, str(e)


@app.get("/deliveries", response_class=HTMLResponse)
async def deliveries(request: Request, user=Depends(get_user), destination: str = "", partner: str = "",
                     state: str = "", error: str = "", since: str = "", until: str = "", sort: str = "id",
                     desc: int = 0, page_no: int = 1, size: int = 50, ids: list[int] | None = Param(None),
                     reason: str = "", scope: str = "", notice: str = "", replayed: int = -1,
                     run: list[str] | None = Param(None)):
    _may_read(user)
    personal = _personal_data(user)
    q = Query(request, locals())
    size = size if size in PAGE_SIZES else 50
    page_no = max(page_no, 1)
    f, problem = _filter_or_notice(q, personal)
    h = hub().registry
    if f is not None:
        total, counts, rows = await asyncio.to_thread(_listing, f, size, page_no, sort, bool(desc), personal)
    else:
        total, counts, rows = 0, {}, []
    selected = set(ids or ())
    may_replay = _may_replay_any(user)
    zone = q.zone

    messages = []
    if problem:
        messages.append(f"<p class='note error'>{escape(problem)}</p>")
    if notice in NOTICES:
        messages.append(f"<p class='note {'warn' if notice != 'nothing' else ''}'>{escape(NOTICES[notice])}</p>")
    if replayed >= 0:
        links = ", ".join(run_link(request, *r.split("|", 1)) for r in (run or []) if "|" in r)
        messages.append(f"<p class='note ok' role='status'>{_deliveries(replayed)} replayed: {'it is' if replayed == 1 else 'they are'} pending "
                        f"and due now.{' Delivery runs started: ' + links + '.' if links else ''}</p>")
    if not personal:
        messages.append("<p class='muted'>Personal data is masked: what destinations wrote back is hidden.</p>")

    def options(name, values, current, labels=None):
        return (f"<select name='{name}' id='f-{name}'><option value=''>all</option>" + "".join(
            f"<option value='{escape(v)}'{' selected' if v == current else ''}>{escape((labels or {}).get(v, v))}"
            "</option>" for v in values) + "</select>")

    filters = (
        "<form class='filters' method='get' action='deliveries'>"
        f"<label for='f-destination'>destination{options('destination', sorted(h.destinations), destination)}</label>"
        f"<label for='f-partner'>partner{options('partner', sorted(h.partners), partner)}</label>"
        f"<label for='f-state'>state{options('state', (*ops.KINDS, 'pending'), state)}</label>"
        f"<label>error contains<input name='error' value='{escape(error)}' size='18'></label>"
        f"<label>changed since ({escape(zone.key)})<input name='since' type='datetime-local' "
        f"value='{escape(_as_input(since, zone))}'></label>"
        f"<label>until ({escape(zone.key)})<input name='until' type='datetime-local' "
        f"value='{escape(_as_input(until, zone))}'></label>"
        f"<input type='hidden' name='sort' value='{escape(sort)}'><input type='hidden' name='desc' value='{desc}'>"
        f"<input type='hidden' name='size' value='{size}'>"
        "<button type='submit' class='primary'>Filter</button></form>")
    in_trouble = sum(counts.values())
    chips = [f"<a href='deliveries?{urlencode([(a, b) for a, b in q.params() if a != 'state'])}'"
             f"{' aria-current=true' if not state else ''}>all in trouble: {_number(in_trouble)}</a>"]
    for k in ops.KINDS:
        params = [(a, b) for a, b in q.params() if a != "state"] + [("state", k)]
        chips.append(f"<a href='deliveries?{urlencode(params)}'{' aria-current=true' if state == k else ''}>"
                     f"{escape(k)}: {_number(counts.get(k, 0))}</a>")
    legend = "; ".join(ops.KIND_WORDS[k] for k in ops.KINDS)
    count_bar = (f"<div class='counts' aria-label='counts per state'>{''.join(chips)}</div>"
                 f"<p class='muted'>{escape(legend)}.</p>")

    def header(key, label):
        d = 0 if sort == key and desc else 1 if sort == key else 0
        arrow = (" ↓" if desc else " ↑") if sort == key else ""
        params = [(a, b) for a, b in q.params() if a not in ("sort", "desc")] + [("sort", key), ("desc", str(d)),
                                                                                    ("size", str(size))]
        return f"<th><a href='deliveries?{urlencode(params)}'>{label}{arrow}</a></th>"

    body_rows = "".join(
        f"<tr><td><input type='checkbox' class='pick' name='ids' value='{r['id']}' aria-label='select {r['id']}'"
        f"{' checked' if r['id'] in selected else ''}></td>"
        f"<td><a href='deliveries/{r['id']}'>{r['id']}</a></td><td>{escape(r['destination'])}</td>"
        f"<td>{escape(r['partner'])}</td><td class='nowrap'>{escape(r['bericht_id'])}</td>"
        f"<td><span class='state state-{r['kind']}'>{escape(r['kind'])}</span></td><td>{r['attempts']}</td>"
        f"<td class='nowrap'>{shown(r['next_attempt_at'], zone) if r['state'] == 'pending' else ''}</td>"
        f"<td class='reason'>{escape(r['last_error'] or '')}</td><td class='nowrap'>{shown(r['updated_at'], zone)}</td></tr>"
        for r in rows)
    first = (page_no - 1) * size
    pages = max(1, -(-total // size))

    def page_link(n, label):
        if n < 1 or n > pages or n == page_no:
            return f"<span class='muted'>{label}</span>"
        params = q.params(sort=sort, desc=desc, size=size, page_no=n)
        return f"<a href='deliveries?{urlencode(params)}'>{label}</a>"
    sizes = "".join(f"<a href='deliveries?{urlencode(q.params(sort=sort, desc=desc, size=s))}' "
                    f"aria-label='{s} per page'>{s}</a> "
                    if s != size else f"<strong>{s}</strong> " for s in PAGE_SIZES)
    pager = (f"<div class='pager'><span>{_number(first + 1) if rows else 0}–{_number(first + len(rows))} of "
             f"<strong id='total'>{_number(total)}</strong> matching</span>{page_link(1, '« first')}"
             f"{page_link(page_no - 1, '‹ previous')}<span>page {page_no} of {pages}</span>"
             f"{page_link(page_no + 1, 'next ›')}{page_link(pages, 'last »')}<span class='muted'>per page: {sizes}</span></div>")
    hidden = "".join(f"<input type='hidden' name='{k}' value='{escape(v)}'>" for k, v in q.params())
    disabled = "" if may_replay else " disabled"
    all_chosen = scope == "filter"
    actions = (
        f"<div class='actions'><label>Reason (for the audit trail) <input name='reason' size='44' "
        f"value='{escape(reason)}'{disabled}></label>"
        f"<button name='scope' value='selected' class='primary'{disabled}>Replay selected…</button>"
        f"<button name='scope' value='filter'{disabled}>Replay all {_number(total)} matching…</button></div>"
        + ("" if may_replay else "<p class='note'>You may look, not replay: your role may not trigger the delivery "
                                 "DAGs. Ask an operator.</p>"))
    select_all = (f"<p id='select-all' class='note' {'' if all_chosen else 'hidden'}><span id='page-chosen'>All "
                  f"{_number(len(rows))} on this page are selected. </span><a href='#' id='select-matching'>Select all "
                  f"{_number(total)} matching "
                  f"the filter</a><span id='matching-chosen' hidden>All {_number(total)} matching the filter are "
                  "selected.</span></p>" if total > len(rows) else "")
    table = (f"<form method='post' action='deliveries/replay' id='replay'>{hidden}"
             "<input type='hidden' name='action' value='preview'>"
             "<table><thead><tr><th><input type='checkbox' id='pick-page' aria-label='select this page'></th>"
             f"{header('id', 'id')}{header('destination', 'destination')}{header('partner', 'partner')}"
             f"{header('event', 'event')}{header('state', 'state')}{header('attempts', 'attempts')}"
             f"{header('next', 'next attempt')}<th>last error</th>{header('changed', 'changed')}</tr></thead>"
             f"<tbody>{body_rows}</tbody></table>{select_all}{pager}{actions}</form>")
    # Progressive: without JavaScript the two buttons do the same (selected, or all matching).
    script = """<script>(function(){var all=document.getElementById('pick-page'),box=document.getElementById('select-all');
var picks=[].slice.call(document.querySelectorAll('input.pick')),form=document.getElementById('replay');
var chosen=form.querySelector('button[value=selected]'),every=form.querySelector('button[value=filter]');
var link=document.getElementById('select-matching');
function matching(on){if(!link)return;link.hidden=on;document.getElementById('page-chosen').hidden=on;
document.getElementById('matching-chosen').hidden=!on;chosen.value=on?'filter':'selected';
chosen.textContent=on?'Replay all matching…':'Replay selected…';every.hidden=on}
function sync(){var e=picks.length>0&&picks.every(function(p){return p.checked});all.checked=e;
if(box){box.hidden=!e}if(!e)matching(false)}
all.addEventListener('change',function(){picks.forEach(function(p){p.checked=all.checked});sync()});
picks.forEach(function(p){p.addEventListener('change',sync)});
if(link){link.addEventListener('click',function(e){e.preventDefault();matching(true)})}sync()})();</script>"""
    title = "Deliveries in trouble"
    return page(request, title, "".join(messages) + filters + count_bar + table + script, current="deliveries")


def _as_input(value: str, zone) -> str:
    try:
        return local_input(read_local(value, zone), zone)
    except ValueError:
        return value


def _listing(f: ops.Filter, size: int, page_no: int, sort: str, desc: bool, personal: bool):
    h = hub()
    counts = ops.counts(h, replace(f, states=ops.KINDS))
    total = ops.count_deliveries(h, f)
    rows = ops.list_deliveries(h, f, size, personal, offset=(page_no - 1) * size, sort=sort, descending=desc)
    return total, counts, rows


@app.get("/deliveries/replay")
async def replay_get(request: Request):
    """A reload or a bookmark of the form's address: the page itself, nothing sent."""
    return _see_other(request, "deliveries", [])


@app.post("/deliveries/replay")
async def replay(request: Request, user=Depends(get_user), action: str = Form("preview"), scope: str = Form("selected"),
                 reason: str = Form(""), ids: list[int] = Form(default=[]), destination: str = Form(""),
                 partner: str = Form(""), state: str = Form(""), error: str = Form(""), since: str = Form(""),
                 until: str = Form(""), expected: int = Form(-1)):
    _same_origin(request)
    _may_read(user)
    q = Query(request, locals())
    by_filter = scope == "filter"
    keep = q.params(ids=[] if by_filter else ids, reason=reason, scope=scope if by_filter else "")
    if not by_filter and not ids:
        return _see_other(request, "deliveries", keep + [("notice", "no-selection")])
    if not reason.strip():
        return _see_other(request, "deliveries", keep + [("notice", "no-reason")])
    f = q.filter(_personal_data(user), () if by_filter else ids)
    await _may_replay(user, f)
    if action in ("preview", "dry-run"):
        return _see_other(request, "deliveries/confirm", keep)
    n = await asyncio.to_thread(ops.replay, hub(), f, "", reason, True)
    if n != expected:
        return _see_other(request, "deliveries/confirm", keep + [("notice", "changed")])
    affected = await asyncio.to_thread(ops.destinations_matching, hub(), f)
    f = replace(f, destinations=tuple(affected))  # what matches later, for another destination, stays
    done = await asyncio.to_thread(ops.replay, hub(), f, f"airflow:{user.get_name()}", reason)
    if not done:
        return _see_other(request, "deliveries", q.params(notice="nothing"))
    runs = [await asyncio.to_thread(_trigger, dag_id("deliver", d), user.get_name(), reason) for d in affected]
    return _see_other(request, "deliveries", q.params(replayed=done, run=[r for r in runs if r]))


async def _may_replay(user, f: ops.Filter) -> list[str]:
    # Every destination the request touches, however many deliveries: no listing limit decides.
    affected = await asyncio.to_thread(ops.destinations_matching, hub(), f)
    refused = [d for d in affected if not _may(user, "POST", dag_id("deliver", d))]
    if refused:
        raise HTTPException(403, f"you may not replay deliveries to {', '.join(refused)}: your role may not trigger "
                                 f"the delivery DAG{'s' if len(refused) > 1 else ''} "
                                 f"{', '.join(dag_id('deliver', d) for d in refused)}")
    return affected


@app.get("/deliveries/confirm", response_class=HTMLResponse)
async def confirm_replay(request: Request, user=Depends(get_user), destination: str = "", partner: str = "",
                         state: str = "", error: str = "", since: str = "", until: str = "",
                         ids: list[int] | None = Param(None), reason: str = "", scope: str = "", notice: str = ""):
    """The dry run: how many deliveries the replay would touch, where, and a button that names it."""
    _may_read(user)
    q = Query(request, locals())
    by_filter = scope == "filter"
    f = q.filter(_personal_data(user), () if by_filter else (ids or ()))
    affected = await _may_replay(user, f)
    n = await asyncio.to_thread(ops.replay, hub(), f, "", reason or "-", True)
    back = urlencode(q.params(ids=[] if by_filter else (ids or []), reason=reason, scope=scope if by_filter else ""))
    hidden = "".join(f"<input type='hidden' name='{k}' value='{escape(v)}'>" for k, v in q.params(
        ids=[] if by_filter else (ids or []), reason=reason, scope=scope or "selected", expected=n))
    what = (f"all deliveries matching the filter ({escape(_described(q))})" if by_filter
            else f"the selection of {_deliveries(len(ids or ()))}")
    warn = f"<p class='note warn'>{escape(NOTICES['changed'])}</p>" if notice == "changed" else ""
    if n == 0:
        body = (f"{warn}<p class='note'>Dry run: no delivery would be replayed: none of {what} can be replayed now."
                f"</p><p><a class='button' href='{hub_root(request)}deliveries?{back}'>Back</a></p>")
        return page(request, "Replay: dry run", body, current="deliveries")
    body = (f"{warn}<p class='note' role='status'>Dry run: <strong>{_deliveries(n)}</strong> would be replayed "
            f"({what}), to {escape(', '.join(affected))}. {'It becomes' if n == 1 else 'They become'} pending and due "
            f"now with attempts from zero, and a run of each destination's delivery DAG starts.</p><p>Reason: <strong>{escape(reason)}</strong>"
            f"</p><form method='post' action='replay' class='actions'>{hidden}"
            f"<input type='hidden' name='action' value='replay'>"
            f"<button class='primary'>Replay {_deliveries(n)}</button>"
            f"<a class='button' href='{hub_root(request)}deliveries?{back}'>Back (keeps the selection and reason)</a>"
            "</form>")
    return page(request, "Replay: confirm", body, current="deliveries")


def _described(q: Query) -> str:
    return ", ".join(f"{k} {v}" for k, v in q.values.items() if v) or "everything in trouble"


def _trigger(dag_id: str, user_name: str, reason: str) -> str:
    """``dag_id|run_id`` of the run started, for the link to it."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType
    run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=user_name,
                      conf={"replay": True}, note=f"replay: {reason}"[:1000])
    return f"{dag_id}|{run.run_id}" if run else ""


@app.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
async def delivery_detail(request: Request, delivery_id: int, user=Depends(get_user)):
    _may_read(user)
    personal = _personal_data(user)
    zone = user_zone(request)
    d = await asyncio.to_thread(ops.show_delivery, hub(), delivery_id, personal)
    if d is None:
        raise HTTPException(404, f"there is no delivery {delivery_id}")
    at = {"created_at": "created", "updated_at": "changed", "next_attempt_at": "next attempt"}
    fields = "".join(
        f"<tr><th>{escape(at.get(k, k.replace('_', ' ')))}</th><td>"
        f"{escape(shown(d[k], zone, True) if k in at else str(d[k] if d[k] is not None else ''))}</td></tr>"
        for k in ("destination", "recipient", "partner", "bericht_id", "idempotency_key", "state", "attempts",
                  "last_error", "next_attempt_at", "created_at", "updated_at"))
    trace = "".join(f"<tr><td>{shown(r['at'], zone, True)}</td><td>{escape(r['actor'])}</td><td>{r['subject']} "
                    f"{r['subject_id']}</td><td>{escape(r['action'])}</td><td class='reason'>{escape(r['detail'] or '')}"
                    "</td></tr>" for r in d["trace"])
    masked = "" if personal else "<p class='note'>Personal data is masked: you may not see it.</p>"
    return page(request, f"Delivery {delivery_id}", f"<p><a href='../deliveries'>← Deliveries</a></p><table>{fields}"
                "</table><h2>Trace</h2><table><thead><tr><th>at</th><th>by</th><th>what</th><th>action</th><th>detail</th>"
                f"</tr></thead><tbody>{trace}</tbody></table><h2>Outbound document</h2>{masked}"
                f"<pre>{escape(d['document'])}</pre>", current="deliveries")


# ---------------------------------------------------------------- quarantine

Q_FIELDS = ("partner", "reason_text", "bericht_id", "since", "until")
Q_NOTICES = {"no-selection": "Select at least one item, or use “Re-process all matching”.",
             "no-reason": "Re-processing needs a reason, for the audit trail.",
             "changed": "The number of matching items changed since the confirmation: check it again."}


def _q_filter(values: dict, zone, ids=()) -> ops.QuarantineFilter:
    return ops.QuarantineFilter(ids=tuple(ids), partner=values.get("partner") or None,
                                reason=values.get("reason_text") or None, bericht_id=values.get("bericht_id") or None,
                                since=read_local(values.get("since") or "", zone),
                                until=read_local(values.get("until") or "", zone))


def _q_params(values: dict, **extra) -> list[tuple[str, str]]:
    out = [(k, str(values[k])) for k in Q_FIELDS if values.get(k)]
    for k, v in extra.items():
        out += [(k, str(x)) for x in v] if isinstance(v, (list, tuple)) else [(k, str(v))]
    return [(k, v) for k, v in out if v not in ("", "None")]


@app.get("/quarantine", response_class=HTMLResponse)
async def quarantine(request: Request, user=Depends(get_user), partner: str = "", reason_text: str = "",
                     bericht_id: str = "", since: str = "", until: str = "", page_no: int = 1, size: int = 50,
                     ids: list[int] | None = Param(None), reason: str = "", notice: str = "", done: list[str] | None = Param(None)):
    _may_read(user)
    zone = user_zone(request)
    values = dict(partner=partner, reason_text=reason_text, bericht_id=bericht_id, since=since, until=until)
    size = size if size in PAGE_SIZES else 50
    page_no = max(page_no, 1)
    messages = []
    try:
        f = _q_filter(values, zone)
    except ValueError as e:
        f = None
        messages.append(f"<p class='note error'>{escape(str(e))}</p>")
    if notice in Q_NOTICES:
        messages.append(f"<p class='note warn'>{escape(Q_NOTICES[notice])}</p>")
    if done:
        messages.append(await asyncio.to_thread(_outcome_note, done))
    h = hub()
    if f is not None:
        total = await asyncio.to_thread(ops.count_quarantine, h, f)
        rows = await asyncio.to_thread(ops.list_quarantine, h, f, limit=size, offset=(page_no - 1) * size,
                                       newest_first=True)
    else:
        total, rows = 0, []
    selected = set(ids or ())
    may = _may_reprocess_any(user)
    disabled = "" if may else " disabled"
    options = "".join(f"<option{' selected' if p == partner else ''}>{escape(p)}</option>" for p in sorted(h.registry.partners))
    filters = ("<form class='filters' method='get' action='quarantine'>"
               f"<label>partner<select name='partner'><option value=''>all</option>{options}</select></label>"
               f"<label>reason contains<input name='reason_text' value='{escape(reason_text)}' size='20'></label>"
               f"<label>BerichtId<input name='bericht_id' value='{escape(bericht_id)}' size='20'></label>"
               f"<label>received since ({escape(zone.key)})<input name='since' type='datetime-local' "
               f"value='{escape(_as_input(since, zone))}'></label>"
               f"<label>until ({escape(zone.key)})<input name='until' type='datetime-local' "
               f"value='{escape(_as_input(until, zone))}'></label><button class='primary'>Filter</button></form>")
    body_rows = "".join(
        f"<tr><td><input type='checkbox' class='pick' name='ids' value='{r['id']}' aria-label='select {r['id']}'"
        f"{' checked' if r['id'] in selected else ''}></td><td>{r['id']}</td>"
        f"<td class='nowrap'>{shown(r['created_at'], zone)}</td><td>{escape(r['partner'])}</td>"
        f"<td class='nowrap'>{escape(r['bericht_id'] or '(whole payload)')}</td><td>{r['line'] or ''}</td>"
        f"<td class='reason'>{escape(r['reason'])}</td></tr>" for r in rows)
    first = (page_no - 1) * size
    pages = max(1, -(-total // size))

    def page_link(n, label):
        if n < 1 or n > pages or n == page_no:
            return f"<span class='muted'>{label}</span>"
        return f"<a href='quarantine?{urlencode(_q_params(values, size=size, page_no=n))}'>{label}</a>"
    pager = (f"<div class='pager'><span>{_number(first + 1) if rows else 0}–{_number(first + len(rows))} of "
             f"<strong>{_number(total)}</strong> open items</span>{page_link(page_no - 1, '‹ previous')}"
             f"<span>page {page_no} of {pages}</span>{page_link(page_no + 1, 'next ›')}</div>")
    hidden = "".join(f"<input type='hidden' name='{k}' value='{escape(v)}'>" for k, v in _q_params(values))
    body = (f"{''.join(messages)}{filters}<form method='post' action='quarantine/reprocess'>{hidden}"
            "<input type='hidden' name='action' value='preview'><table><thead><tr><th></th><th>id</th><th>received</th>"
            "<th>partner</th><th>event</th><th>event at line</th><th>reason</th></tr></thead>"
            f"<tbody>{body_rows}</tbody></table>{pager}"
            f"<div class='actions'><label>Reason (for the audit trail) <input name='reason' size='44' "
            f"value='{escape(reason)}'{disabled}></label>"
            f"<button name='scope' value='selected' class='primary'{disabled}>Re-process selected…</button>"
            f"<button name='scope' value='filter'{disabled}>Re-process all {_number(total)} matching…</button></div>"
            + ("" if may else "<p class='note'>You may look, not re-process: your role may not trigger the receiving "
                              "DAGs. Ask an operator.</p>") + "</form>")
    return page(request, "Quarantined events", body, current="quarantine")


def _outcome_note(done: list[str]) -> str:
    """What became of each item re-processed, in words, with the reason it has now (read from the store)."""
    items = []
    for d in done[:200]:
        parts = d.split(":")
        if len(parts) >= 2 and parts[0].isdigit():
            items.append((int(parts[0]), parts[1], int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None))
    wanted = [i for i, _, _ in items] + [n for _, _, n in items if n]
    rows = {r["id"]: r for r in ops.list_quarantine(hub(), ops.QuarantineFilter(ids=tuple(wanted), state="open"))}
    rows.update({r["id"]: r for r in ops.list_quarantine(hub(), ops.QuarantineFilter(ids=tuple(wanted), state="reprocessed"))})
    accepted = sum(a == "a" for _, a, _ in items)
    lines = []
    for i, kind, now_item in items:
        r = rows.get(now_item or i)
        event = escape((r or {}).get("bericht_id") or "whole payload")
        if kind == "u":
            lines.append(f"<li>item {i} ({event}): <strong>not re-processed</strong>: its partner is not configured "
                         "(no adapter under adapters/), so there is nothing to check it against</li>")
        elif kind == "a":
            lines.append(f"<li>item {i} ({event}): accepted: its event is stored and routed</li>")
        else:
            moved = f", now item {now_item}" if now_item else ""
            lines.append(f"<li>item {i} ({event}): <strong>still rejected</strong>{moved}: "
                         f"<span class='reason'>{escape(r['reason'] if r else '')}</span></li>")
    kind = "ok" if accepted == len(items) else "warn"
    return (f"<div class='note {kind}' role='status'>{len(items)} re-processed: {accepted} accepted, "
            f"{len(items) - accepted} still rejected.<ul>{''.join(lines)}</ul></div>")


@app.get("/quarantine/reprocess")
async def reprocess_get(request: Request):
    return _see_other(request, "quarantine", [])


@app.post("/quarantine/reprocess")
async def reprocess(request: Request, user=Depends(get_user), action: str = Form("preview"),
                    scope: str = Form("selected"), reason: str = Form(""), ids: list[int] = Form(default=[]),
                    partner: str = Form(""), reason_text: str = Form(""), bericht_id: str = Form(""),
                    since: str = Form(""), until: str = Form(""), expected: int = Form(-1)):
    _same_origin(request)
    _may_read(user)
    values = dict(partner=partner, reason_text=reason_text, bericht_id=bericht_id, since=since, until=until)
    by_filter = scope == "filter"
    keep = _q_params(values, ids=[] if by_filter else ids, reason=reason, scope=scope if by_filter else "")
    chosen = (await asyncio.to_thread(ops.quarantine_ids, hub(), _q_filter(values, user_zone(request)))
              if by_filter else list(ids))
    await _may_reprocess(user, chosen)
    if not chosen and not by_filter:
        return _see_other(request, "quarantine", keep + [("notice", "no-selection")])
    if not reason.strip():
        return _see_other(request, "quarantine", keep + [("notice", "no-reason")])
    if action in ("preview", "dry-run"):
        return _see_other(request, "quarantine/confirm", keep)
    if len(chosen) != expected:
        return _see_other(request, "quarantine/confirm", keep + [("notice", "changed")])
    outcome = await asyncio.to_thread(ops.reprocess, hub(), chosen, f"airflow:{user.get_name()}", reason)
    done = [f"{i.id}:{'a' if i.accepted else 'u' if 'not configured' in i.reason else 'r'}"
            + (f":{i.now_item}" if i.now_item else "") for i in outcome.items]
    return _see_other(request, "quarantine", _q_params(values, done=done))


async def _may_reprocess(user, ids: list[int]) -> None:
    # The partners of exactly the items asked, whatever their number: no listing limit decides.
    partners = await asyncio.to_thread(ops.quarantine_partners, hub(), ids)
    refused = [p for p in partners if not _may(user, "POST", dag_id("receive", p))]
    if refused:
        raise HTTPException(403, f"you may not re-process events of {', '.join(refused)}: your role may not "
                                 f"trigger the receiving DAG {', '.join(dag_id('receive', p) for p in refused)}")


@app.get("/quarantine/confirm", response_class=HTMLResponse)
async def confirm_reprocess(request: Request, user=Depends(get_user), partner: str = "", reason_text: str = "",
                            bericht_id: str = "", since: str = "", until: str = "", ids: list[int] | None = Param(None),
                            reason: str = "", scope: str = "", notice: str = ""):
    _may_read(user)
    values = dict(partner=partner, reason_text=reason_text, bericht_id=bericht_id, since=since, until=until)
    by_filter = scope == "filter"
    f = _q_filter(values, user_zone(request), () if by_filter else (ids or [-1]))
    chosen = await asyncio.to_thread(ops.quarantine_ids, hub(), f)
    await _may_reprocess(user, chosen)
    keep = _q_params(values, ids=[] if by_filter else (ids or []), reason=reason, scope=scope if by_filter else "")
    back = f"{hub_root(request)}quarantine?{urlencode(keep)}"
    hidden = "".join(f"<input type='hidden' name='{k}' value='{escape(v)}'>"
                     for k, v in keep + [("expected", str(len(chosen)))] + ([("scope", "selected")] if not by_filter else []))
    warn = f"<p class='note warn'>{escape(Q_NOTICES['changed'])}</p>" if notice == "changed" else ""
    if not chosen:
        return page(request, "Re-process: dry run", f"{warn}<p class='note'>Dry run: nothing would be re-processed: "
                    f"none of the items is open.</p><p><a class='button' href='{escape(back)}'>Back</a></p>",
                    current="quarantine")
    body = (f"{warn}<p class='note' role='status'>Dry run: <strong>{_items(len(chosen))}</strong> would be "
            "re-processed: each goes through validation, mapping and routing again; an item still rejected keeps "
            f"the reason it gets now.</p><p>Reason: <strong>{escape(reason)}</strong></p>"
            f"<form method='post' action='reprocess' class='actions'>{hidden}<input type='hidden' name='action' "
            f"value='reprocess'><button class='primary'>Re-process {_items(len(chosen))}</button>"
            f"<a class='button' href='{escape(back)}'>Back (keeps the selection and reason)</a></form>")
    return page(request, "Re-process: confirm", body, current="quarantine")

