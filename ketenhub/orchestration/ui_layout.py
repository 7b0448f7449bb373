"""What every hub page in the Airflow UI shares: Airflow 3's look (its Chakra theme's colours
and fonts, light and dark as the user chose in Airflow), the hub's own tabs, the user's time zone,
and errors in words instead of raw JSON.

A page module builds its body and calls ``page``; a new page adds itself to the tabs with one
``Tab`` in ``TABS`` and its router to the app in plugins/ketenhub_plugin.py. Airflow embeds the
pages in an iframe of its own origin, so they read the user's choices where Airflow's UI keeps
them: ``localStorage.theme`` (light, dark or system) and ``localStorage.timezone`` (a JSON
string; Airflow's UI uses the browser's zone without it). A small script copies the zone into
the cookie ``ketenhub_tz`` for the server, which renders and reads every time in it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ketenhub.clock import local_time

ZONE_COOKIE = "ketenhub_tz"


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    href: str  # relative to the hub's root (/ketenhub/)


# The hub's pages, in the order of their tabs; a page module may append its own.
TABS: list[Tab] = [Tab("deliveries", "Deliveries", "deliveries"), Tab("quarantine", "Quarantine", "quarantine")]


def default_zone() -> str:
    from airflow.configuration import conf
    return (conf.get("webserver", "default_ui_timezone", fallback=None)
            or conf.get("core", "default_timezone", fallback="UTC") or "UTC")


def user_zone(request: Request) -> ZoneInfo:
    """The zone the user's Airflow UI shows times in (its cookie copy), else the configured default."""
    from urllib.parse import unquote
    for name in (unquote(request.cookies.get(ZONE_COOKIE) or ""), default_zone(), "UTC"):
        if name and name not in ("system", "utc"):
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def shown(at: datetime | None, zone: ZoneInfo, seconds: bool = False) -> str:
    """A stored time in the user's zone."""
    return local_time(at, zone, seconds)


def read_local(value: str, zone: ZoneInfo) -> datetime | None:
    """A time typed in the user's zone (an <input type=datetime-local>, or ISO with its own
    offset) as an aware UTC datetime; raises ValueError in words."""
    if not value.strip():
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not a time: {value!r} (expected e.g. 2026-12-06 14:30)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(timezone.utc)


def local_input(at: datetime | None, zone: ZoneInfo) -> str:
    """The value of an <input type=datetime-local> for ``at`` in the user's zone."""
    return at.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if at else ""


# Airflow 3's Chakra theme (airflow/ui, its semantic tokens bg, fg, border and brand) in CSS.
STYLE = """
:root{--bg:#fff;--bg-subtle:oklch(0.985 0.004 253);--bg-muted:oklch(0.955 0.006 253);--fg:#000;
--fg-muted:oklch(0.45 0.055 251);--border:oklch(0.915 0.01 253);--brand:oklch(0.469 0.084 257.657);
--brand-fg:#fff;--link:oklch(0.469 0.084 257.657);--error:oklch(0.577 0.245 27.325);--error-bg:oklch(0.971 0.013 17.38);
--ok:oklch(0.527 0.154 150.069);--ok-bg:oklch(0.982 0.018 155.826);--warn:oklch(0.5902 0.1755 39.37);
--warn-bg:oklch(0.982 0.013 83.915);--row-hover:oklch(0.985 0.004 253);color-scheme:light}
html[data-theme=dark]{--bg:#000;--bg-subtle:oklch(0.11 0.025 251);--bg-muted:oklch(0.18 0.03 251);
--fg:oklch(0.985 0.004 253);--fg-muted:oklch(0.75 0.025 252);--border:oklch(0.28 0.035 251);
--brand:oklch(0.705 0.066 256.378);--brand-fg:#000;--link:oklch(0.705 0.066 256.378);
--error:oklch(0.704 0.191 22.216);--error-bg:oklch(0.258 0.092 26.042);--ok:oklch(0.792 0.209 151.711);
--ok-bg:oklch(0.266 0.065 152.934);--warn:oklch(0.857 0.118 76.815);--warn-bg:oklch(0.3 0.06 60);
--row-hover:oklch(0.18 0.03 251);color-scheme:dark}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;padding:1rem 1.5rem;background:var(--bg);color:var(--fg);font:14px/1.5 Inter,-apple-system,
BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif}
h1{font-size:1.5rem;font-weight:600;margin:.2rem 0 .8rem}h2{font-size:1.15rem;font-weight:600;margin:1.2rem 0 .5rem}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
nav.tabs{display:flex;gap:.2rem;border-bottom:1px solid var(--border);margin-bottom:1rem}
nav.tabs a{padding:.5rem .9rem;color:var(--fg-muted);border-bottom:2px solid transparent;margin-bottom:-1px}
nav.tabs a[aria-current=page]{color:var(--fg);border-bottom-color:var(--brand);font-weight:600}
nav.tabs .zone{margin-left:auto;align-self:center;color:var(--fg-muted);font-size:.85rem}
table{border-collapse:collapse;width:100%;border:1px solid var(--border);border-radius:6px}
th,td{padding:.45rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid var(--border)}
th{background:var(--bg-muted);font-weight:600;white-space:nowrap}tbody tr:hover{background:var(--row-hover)}
th a{color:var(--fg)}td.nowrap{white-space:nowrap}td.reason{white-space:pre-wrap;word-break:break-word;max-width:60rem}
input,select,button,textarea{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--border);
border-radius:6px;padding:.3rem .55rem}
button,.button{cursor:pointer;background:var(--bg-muted);display:inline-block;color:var(--fg)}
a.button{border:1px solid var(--border);border-radius:6px;padding:.3rem .55rem;text-decoration:none}
button.primary,.button.primary{background:var(--brand);color:var(--brand-fg);border-color:var(--brand)}
button.danger{background:var(--error);color:#fff;border-color:var(--error)}
button:disabled{opacity:.5;cursor:not-allowed}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin-bottom:.8rem}
form.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--fg-muted)}
.counts{display:flex;flex-wrap:wrap;gap:.5rem;margin:.6rem 0}
.counts a{border:1px solid var(--border);border-radius:999px;padding:.15rem .7rem;color:var(--fg)}
.counts a[aria-current=true]{background:var(--brand);color:var(--brand-fg);border-color:var(--brand)}
.state{border-radius:4px;padding:0 .35rem;font-size:.8rem;font-weight:600;white-space:nowrap}
.state-failed,.state-dead{background:var(--error-bg);color:var(--error)}
.state-retrying,.state-waiting,.state-pending{background:var(--warn-bg);color:var(--warn)}
.state-delivered,.state-reprocessed{background:var(--ok-bg);color:var(--ok)}
.note{padding:.6rem .8rem;border-radius:6px;border:1px solid var(--border);background:var(--bg-subtle);margin:.6rem 0}
.note.ok{border-color:var(--ok);background:var(--ok-bg)}.note.error{border-color:var(--error);background:var(--error-bg)}
.note.warn{border-color:var(--warn);background:var(--warn-bg)}
.muted{color:var(--fg-muted)}.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.8rem 0}
.pager{display:flex;gap:.8rem;align-items:center;margin:.6rem 0}
pre{background:var(--bg-subtle);border:1px solid var(--border);border-radius:6px;padding:.8rem;overflow:auto}
"""

# Runs before the page paints: Airflow's colour mode, and the user's zone for the server (one
# reload when it differs from the zone the page was rendered in). Follows later changes in Airflow.
SCRIPT = """
(function(){
  var root=document.documentElement;
  function theme(){var t=null;try{t=localStorage.getItem('theme')}catch(e){}
    if(t!=='light'&&t!=='dark'){t=matchMedia('(prefers-color-scheme: dark)').matches?'dark':'light'}
    root.setAttribute('data-theme',t)}
  function zone(){var z=null;try{z=JSON.parse(localStorage.getItem('timezone'))}catch(e){}
    if(!z){try{z=Intl.DateTimeFormat().resolvedOptions().timeZone}catch(e){}}
    return z||'UTC'}
  function syncZone(){var z=zone(),m=document.cookie.match(/(?:^|; )%(cookie)s=([^;]*)/);
    var before=m?decodeURIComponent(m[1]):null;
    document.cookie='%(cookie)s='+encodeURIComponent(z)+';path=/;SameSite=Strict';
    if(before!==z&&z!==root.getAttribute('data-zone'))location.reload()}
  // Links into Airflow's own UI: its frame is sandboxed without top navigation, so the link asks
  // Airflow's router (same origin) to go there, as a click in Airflow's navigation would.
  document.addEventListener('click',function(e){var a=e.target.closest&&e.target.closest('a[data-airflow]');
    if(!a||window.top===window||e.ctrlKey||e.metaKey||e.shiftKey)return;
    try{window.top.history.pushState(null,'',a.getAttribute('href'));
      window.top.dispatchEvent(new PopStateEvent('popstate'));e.preventDefault()}catch(err){}});
  theme();syncZone();
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change',theme);
  addEventListener('storage',function(e){if(e.key==='theme')theme();if(e.key==='timezone')syncZone()});
})();
"""


def tabs(current: str, zone: ZoneInfo, root: str = "") -> str:
    links = "".join(f"<a href='{root}{escape(t.href)}'{' aria-current=page' if t.key == current else ''}>"
                    f"{escape(t.label)}</a>" for t in TABS)
    return (f"<nav class='tabs' aria-label='Ketenhub pages'>{links}"
            f"<span class='zone' title='Set it in Airflow: the user menu, Timezone'>Times in {escape(zone.key)}</span></nav>")


def page(request: Request, title: str, body: str, current: str = "", status_code: int = 200) -> HTMLResponse:
    """A whole page: ``body`` is HTML the caller escaped. ``current`` is the tab to mark."""
    zone = user_zone(request)
    root = hub_root(request)
    script = SCRIPT % {"cookie": ZONE_COOKIE}
    html = (f"<!doctype html><html lang='en' data-zone='{escape(zone.key)}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
            f"<script>{script}</script><style>{STYLE}</style></head><body>"
            f"{tabs(current, zone, root)}<h1>{escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(html, status_code=status_code)


def hub_root(request: Request) -> str:
    """The path of the hub's pages (/ketenhub/), for links that work from every page."""
    return request.scope.get("root_path", "").rstrip("/") + "/"


def airflow_root(request: Request) -> str:
    """The path of Airflow's own UI: where the hub's app is mounted, less its prefix."""
    root = request.scope.get("root_path", "").rstrip("/")
    return root.rsplit("/", 1)[0] + "/" if "/" in root else "/"


def run_link(request: Request, dag_id: str, run_id: str) -> str:
    """A link to a DAG run in Airflow's UI, opened in the whole window (not in the hub's frame)."""
    from urllib.parse import quote
    href = f"{airflow_root(request)}dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
    return f"<a href='{escape(href)}' target='_top' data-airflow>{escape(dag_id)} run {escape(run_id)}</a>"


_STATUS_WORDS = {401: "You are not logged in to Airflow (or your session ran out): log in again.",
                 403: "You may not do this.", 404: "There is no such page or item.",
                 405: "This address only takes a form sent from its page: go back to the page and send it from there."}


def install_error_pages(app: FastAPI) -> None:
    """Errors as a page in words, in the hub's layout: never raw JSON inside Airflow's frame."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else ""
        words = _STATUS_WORDS.get(exc.status_code, "Something went wrong.")
        text = f"{detail[:1].upper()}{detail[1:]}." if detail and exc.status_code != 405 else words
        if exc.status_code == 403 and detail:
            text += " Ask an operator or an administrator if you think you should."
        return page(request, "Not possible", f"<p class='note error'>{escape(text)}</p>"
                    f"<p><a href='{hub_root(request)}deliveries'>Back to Deliveries</a></p>",
                    status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError):
        fields = sorted({str(e.get("loc", ["", "?"])[-1]) for e in exc.errors()})
        return page(request, "Incomplete request", "<p class='note error'>This request lacks or has a wrong "
                    f"value for: {escape(', '.join(fields))}. Open the page again and send its form from there."
                    f"</p><p><a href='{hub_root(request)}deliveries'>Back to Deliveries</a></p>", status_code=422)
