"""The "Deliveries" page in the Airflow UI (a FastAPI app mounted by the ketenhub plugin).

Airflow does not protect plugin apps: every route here resolves the user from Airflow's own
session token and asks Airflow's auth manager. Reading needs read access to the delivery DAGs;
replaying needs the right to trigger the delivery DAG of every destination involved;
re-processing quarantine needs the right to trigger the partner's receiving DAG, checked for
every item asked; personal data (documents, and whatever a destination wrote back in an error)
is shown unmasked only to users who may read Connections (operators and admins). A POST must
come from a page of this server (Origin, else Referer): another site cannot make a logged-in
user's browser replay or re-process."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from html import escape
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import get_user

from ketenhub import operations as ops
from ketenhub.hub import Hub
from ketenhub.orchestration.dags import dag_id

app = FastAPI(title="Ketenhub deliveries", docs_url=None, redoc_url=None, openapi_url=None)
_hub: Hub | None = None


def hub() -> Hub:
    global _hub
    if _hub is None:
        _hub = Hub()
    return _hub


def _may(user, method: str, dag_id: str) -> bool:
    return get_auth_manager().is_authorized_dag(method=method, access_entity=DagAccessEntity.RUN,
                                                details=DagDetails(id=dag_id), user=user)


def _may_read(user) -> None:
    if not any(_may(user, "GET", dag_id("deliver", d)) for d in hub().registry.destinations):
        raise HTTPException(403, "you may not read the delivery DAGs")


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


STYLE = """<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;
width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f3f4f6}form.filters input,form.filters select{margin-right:.6rem}pre{background:#f6f8fa;padding:.8rem;
overflow:auto}.note{padding:.6rem;background:#ecfdf5;border:1px solid #a7f3d0}.warn{background:#fef2f2;
border-color:#fecaca}button{margin:.3rem .3rem 0 0}</style>"""


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>{STYLE}"
                        f"</head><body><h2>{escape(title)}</h2>{body}</body></html>")


def _filter(destination, partner, state, error, since, until, ids=(), personal=False) -> ops.Filter:
    parse = lambda v: datetime.fromisoformat(v) if v else None  # noqa: E731
    states = tuple(s for s in (state or "failed,dead").split(",") if s in ops.REPLAYABLE) or ops.REPLAYABLE
    return ops.Filter(ids=tuple(ids), destination=destination or None, partner=partner or None, states=states,
                      error=error or None, since=parse(since), until=parse(until), personal_data=personal)


@app.get("/deliveries", response_class=HTMLResponse)
async def deliveries(request: Request, user=Depends(get_user), destination: str = "", partner: str = "",
                     state: str = "failed,dead", error: str = "", since: str = "", until: str = ""):
    _may_read(user)
    personal = _personal_data(user)
    f = _filter(destination, partner, state, error, since, until, personal=personal)
    rows = await asyncio.to_thread(ops.list_deliveries, hub(), f, 500, personal)
    h = hub().registry

    def options(name, values, current):
        return f"<select name='{name}'><option value=''>all</option>" + "".join(
            f"<option{' selected' if v == current else ''}>{escape(v)}</option>" for v in values) + "</select>"
    filters = (f"<form class='filters' method='get'>destination {options('destination', sorted(h.destinations), destination)}"
               f"partner {options('partner', sorted(h.partners), partner)}"
               f"state <select name='state'>" + "".join(
                   f"<option{' selected' if v == state else ''}>{v}</option>" for v in ("failed,dead", "failed", "dead"))
               + f"</select>error <input name='error' value='{escape(error)}' size='18'>"
               f"changed since <input name='since' type='datetime-local' value='{escape(since)}'>"
               f"until <input name='until' type='datetime-local' value='{escape(until)}'>"
               "<button type='submit'>Filter</button></form>")
    table = "".join(
        f"<tr><td><input type='checkbox' name='ids' value='{r['id']}' aria-label='select {r['id']}'></td>"
        f"<td><a href='deliveries/{r['id']}'>{r['id']}</a></td><td>{escape(r['destination'])}</td>"
        f"<td>{escape(r['partner'])}</td><td>{escape(r['bericht_id'])}</td><td>{r['state']}</td><td>{r['attempts']}</td>"
        f"<td>{escape((r['last_error'] or '')[:160])}</td><td>{str(ops.age(r['created_at'])).split('.')[0]}</td></tr>"
        for r in rows)
    hidden = "".join(f"<input type='hidden' name='{k}' value='{escape(v)}'>" for k, v in (
        ("destination", destination), ("partner", partner), ("state", state), ("error", error), ("since", since),
        ("until", until)))
    body = (f"{filters}<form method='post' action='deliveries/replay'>{hidden}<table><tr><th></th><th>id</th>"
            "<th>destination</th><th>partner</th><th>event</th><th>state</th><th>attempts</th><th>last error</th>"
            f"<th>age</th></tr>{table}</table><p>{len(rows)} deliveries.</p>"
            "<p>Reason (for the audit trail): <input name='reason' size='50' required></p>"
            "<button name='action' value='dry-run'>Dry run</button>"
            "<button name='action' value='replay-selected'>Replay selected</button>"
            "<button name='action' value='replay-filter'>Replay all matching the filter</button></form>"
            "<p><a href='quarantine'>Quarantined events</a></p>")
    return page("Deliveries: failed and dead", body)


@app.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
async def delivery_detail(delivery_id: int, user=Depends(get_user)):
    _may_read(user)
    personal = _personal_data(user)
    d = await asyncio.to_thread(ops.show_delivery, hub(), delivery_id, personal)
    if d is None:
        raise HTTPException(404, "no such delivery")
    fields = "".join(f"<tr><th>{k}</th><td>{escape(str(d[k]))}</td></tr>" for k in (
        "destination", "recipient", "partner", "bericht_id", "idempotency_key", "state", "attempts", "last_error",
        "created_at", "updated_at"))
    trace = "".join(f"<tr><td>{r['at']:%Y-%m-%d %H:%M:%S}</td><td>{escape(r['actor'])}</td><td>{r['subject']} "
                    f"{r['subject_id']}</td><td>{escape(r['action'])}</td><td>{escape(r['detail'] or '')}</td></tr>"
                    for r in d["trace"])
    masked = "" if personal else "<p class='note'>Personal data is masked: you may not see it.</p>"
    return page(f"Delivery {delivery_id}", f"<p><a href='../deliveries'>← Deliveries</a></p><table>{fields}</table>"
                f"<h3>Trace</h3><table>{trace}</table><h3>Outbound document</h3>{masked}<pre>{escape(d['document'])}</pre>")


@app.post("/deliveries/replay", response_class=HTMLResponse)
async def replay(request: Request, user=Depends(get_user), action: str = Form(...), reason: str = Form(""),
                 ids: list[int] = Form(default=[]), destination: str = Form(""), partner: str = Form(""),
                 state: str = Form("failed,dead"), error: str = Form(""), since: str = Form(""), until: str = Form("")):
    _same_origin(request)
    _may_read(user)
    f = _filter(destination, partner, state, error, since, until, ids if action != "replay-filter" else (),
                _personal_data(user))
    if action == "replay-selected" and not ids:
        return page("Replay", "<p class='note warn'>Select at least one delivery.</p><a href='../deliveries'>back</a>")
    # Every destination the request touches, however many deliveries: no listing limit decides.
    affected = await asyncio.to_thread(ops.destinations_matching, hub(), f)
    refused = [d for d in affected if not _may(user, "POST", dag_id("deliver", d))]
    if refused:
        raise HTTPException(403, f"you may not trigger the delivery DAG of {', '.join(refused)}")
    f = replace(f, destinations=tuple(affected))  # what matches later, for another destination, stays
    if not reason.strip():
        return page("Replay", "<p class='note warn'>A replay needs a reason.</p><a href='../deliveries'>back</a>")
    actor = f"airflow:{user.get_name()}"
    n = await asyncio.to_thread(ops.replay, hub(), f, actor, reason, action == "dry-run")
    if action == "dry-run":
        return page("Replay: dry run", f"<p class='note'>{n} deliveries would be replayed.</p>"
                    f"<a href='../deliveries?{urlencode(dict(destination=destination, partner=partner, state=state, error=error))}'>back</a>")
    runs = [await asyncio.to_thread(_trigger, dag_id("deliver", d), user.get_name(), reason) for d in affected]
    return page("Replay", f"<p class='note'>{n} deliveries replayed; delivery runs started: "
                f"{escape(', '.join(runs))}.</p><a href='../deliveries'>back to Deliveries</a>")


def _trigger(dag_id: str, user_name: str, reason: str) -> str:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType
    run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=user_name,
                      note=f"replay: {reason}"[:1000])
    return f"{dag_id} ({run.run_id})" if run else dag_id


@app.get("/quarantine", response_class=HTMLResponse)
async def quarantine(user=Depends(get_user), partner: str = ""):
    _may_read(user)
    rows = await asyncio.to_thread(ops.list_quarantine, hub(), partner or None)
    table = "".join(f"<tr><td><input type='checkbox' name='ids' value='{r['id']}'></td><td>{r['id']}</td>"
                    f"<td>{escape(r['partner'])}</td><td>{escape(r['bericht_id'] or '(whole payload)')}</td>"
                    f"<td><pre>{escape(r['reason'])}</pre></td></tr>" for r in rows)
    return page("Quarantined events", "<p><a href='deliveries'>← Deliveries</a></p>"
                "<form method='post' action='quarantine/reprocess'><table><tr><th></th><th>id</th><th>partner</th>"
                f"<th>event</th><th>reason</th></tr>{table}</table><p>Reason: <input name='reason' size='50' required>"
                "</p><button name='action' value='dry-run'>Dry run</button>"
                "<button name='action' value='reprocess'>Re-process selected</button></form>")


@app.post("/quarantine/reprocess", response_class=HTMLResponse)
async def reprocess(request: Request, user=Depends(get_user), action: str = Form(...), reason: str = Form(""),
                    ids: list[int] = Form(default=[])):
    _same_origin(request)
    _may_read(user)
    # The partners of exactly the items asked, whatever their number: no listing limit decides.
    partners = await asyncio.to_thread(ops.quarantine_partners, hub(), ids)
    refused = [p for p in partners if not _may(user, "POST", dag_id("receive", p))]
    if refused:
        raise HTTPException(403, f"you may not trigger the receiving DAG of {', '.join(refused)}")
    if not reason.strip():
        return page("Re-process", "<p class='note warn'>Re-processing needs a reason.</p>")
    outcome = await asyncio.to_thread(ops.reprocess, hub(), ids, f"airflow:{user.get_name()}", reason,
                                      action == "dry-run")
    return page("Re-process", f"<p class='note'>{escape(str(outcome))}</p><a href='../quarantine'>back</a>")
