"""The "Case conflicts" page in the Airflow UI, a route of the plugin's app: cases for which two
Ketenreferenties were published to KbSP, because statuses went out under the police
registratienummer before an event linked it to its parketnummer (see store.cases). The victim's
portal then shows two timelines for one case until someone joins them.

Readable with read access to the delivery DAGs, as the other pages; the case numbers only for
users who may see personal data (a list of them would tell a viewer which cases the hub holds).
The references are keyed hashes and stay visible, as in a masked document."""
from __future__ import annotations

import asyncio
from html import escape

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from airflow.api_fastapi.core_api.security import get_user

from ketenhub.orchestration.chain import MASKED, _may_read, _personal_data, _root, hub, when
from ketenhub.orchestration.ui_layout import TABS, Tab, page, user_zone
from ketenhub.store.cases import conflicts

router = APIRouter()
TABS.append(Tab("cases", "Case conflicts", "cases"))
HIDDEN = "•••"


@router.get("/cases", response_class=HTMLResponse)
async def cases_page(request: Request, user=Depends(get_user)):
    _may_read(user)
    personal = _personal_data(user)
    root, zone = _root(request), user_zone(request)
    found = await asyncio.to_thread(conflicts, hub().engine)
    intro = ("<p class='muted'>A case named first by its police registratienummer alone, whose statuses went to KbSP "
             "under a reference of that number, and later linked to its parketnummer: from then on its victims get "
             "the parketnummer's reference, so the victim portal holds two references for one case.</p>")
    if not found:
        return page(request, "Case conflicts", intro + "<p class='note'>No case has two references.</p>", "cases")

    def number(text: str) -> str:
        return escape(text) if personal else HIDDEN

    rows = "".join(
        f"<tr><td>{number(c.registratienummer)}</td><td>{number(c.parketnummer)}</td>"
        f"<td><a href='{root}/events/{c.event_id}'>{escape(c.bericht_id)}</a> ({escape(c.partner)})</td>"
        f"<td>{when(c.linked_at, zone)}</td><td>{'<br>'.join(escape(r) for r in c.before)}</td>"
        f"<td>{'<br>'.join(escape(r) for r in c.after) or '–'}</td></tr>" for c in found)
    table = (f"<p>{len(found)} case{'' if len(found) == 1 else 's'} with two references.</p>"
             "<table><tr><th>registratienummer</th><th>parketnummer</th><th>linked by</th><th>linked</th>"
             "<th>published under the registratienummer</th><th>under the parketnummer</th></tr>"
             f"{rows}</table>")
    return page(request, "Case conflicts", intro + ("" if personal else MASKED) + table, "cases")
