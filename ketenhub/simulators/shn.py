"""Slachtofferhulp Nederland's hulpverlening feed (shared/contracts/shn/openapi.yaml), over
two-way TLS like every simulator:

- ``POST /oauth2/token``: client credentials with HTTP Basic (the hub's OIN and ``secret``),
  scope ``shn.gebeurtenissen.lezen``; a token lives ``token_lifetime`` seconds (300 at SHN);
- ``GET /shn/v1/gebeurtenissen?vanaf=&max=``: a page after the cursor, oldest first, with an
  opaque cursor (``volgende``) and ``meerBeschikbaar``; at most one request a second (429 with
  Retry-After otherwise); 401 without a valid token; 400 for max above 1000 or a cursor it did
  not issue; 410 for a cursor before the oldest event it still holds (``forget``).

Misbehaviour on request (``misbehave`` or ``POST /_sim``): ``fail_next`` with ``fail_with``
429, 503, 500, 400 or 403 (429/503 with ``retry_after``); ``gone`` (410 for every page);
``revoke_tokens`` (every token handed out so far stops working: the next call gets 401);
``reject_tokens`` (every page call 401, new token or not); ``not_json_next`` and
``no_cursor_next`` (a 200 whose body is not JSON, or has no ``volgende``)."""
from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ketenhub.settings import HUB_OIN
from ketenhub.simulators.base import Simulator
from ketenhub.simulators.generate import Generator

SCOPE = "shn.gebeurtenissen.lezen"
FEED = "/shn/v1/gebeurtenissen"
SOORTEN = ("HULP_AANGEBODEN", "HULP_GESTART", "HULP_AFGESLOTEN")


@dataclass
class ShnMisbehaviour:
    gone: bool = False
    revoke_tokens: bool = False
    reject_tokens: bool = False
    not_json_next: int = 0
    no_cursor_next: int = 0


def _problem(status: int, title: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    body = json.dumps({"title": title, "status": status}).encode()
    return status, {"Content-Type": "application/problem+json", **(headers or {})}, body


def cursor(position: int) -> str:
    """SHN's cursor, as its examples show it; the hub never reads it."""
    return base64.urlsafe_b64encode(json.dumps({"v": 1, "pos": position}, separators=(",", ":")).encode()) \
        .decode().rstrip("=")


def _position(text: str) -> int | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return int(value["pos"]) if isinstance(value, dict) and value.get("v") == 1 else None
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


class ShnSimulator(Simulator):
    oin = "00000099000000060000"

    def __init__(self, port: int = 0, secret: str = "shn-demo-geheim", token_lifetime: int = 300,
                 rate_limit_seconds: float = 1.0, seed: int = 1, **tls):
        super().__init__(port, **tls)
        self.secret, self.token_lifetime, self.rate_limit_seconds = secret, token_lifetime, rate_limit_seconds
        self.shn = ShnMisbehaviour()
        self.events: list[dict] = []  # position n is self.events[n - 1 - self.forgotten]
        self.forgotten = 0  # events no longer held (older than 30 days at SHN)
        self.tokens: dict[str, float] = {}  # token: when it expires (monotonic)
        self.tokens_issued = 0
        self.pages = self.rate_limited = self.refused_tokens = 0
        self.handed_out: list[str] = []  # berichtIds, as often as handed out
        self.last_page_call: float | None = None
        self.generator = Generator(seed)
        self.feed_lock = threading.Lock()

    # -- what tests and the demo do ----------------------------------------------------------
    def add(self, count: int = 1, informatiewens: bool = True, **fields) -> list[dict]:
        """``count`` valid events (``fields`` replace members of each)."""
        made = []
        with self.lock:
            for _ in range(count):
                n = self.forgotten + len(self.events) + 1
                g = self.generator
                event = {
                    "berichtId": f"shn-{int(time.time())}-{n:07d}-{g.r.randrange(16**6):06x}",
                    "soort": SOORTEN[n % 3],
                    "tijdstip": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                    "slachtoffer": {"bsn": g.bsn(), "naam": " ".join(g.name()), "informatiewens": informatiewens},
                    "hulpverlener": "Slachtofferhulp Nederland, regio Oost-Nederland",
                }
                if n % 2:
                    event["parketnummer"] = g.parketnummer(n)
                else:
                    event["registratienummer"] = g.registratienummer(n)
                event.update(fields)
                self.events.append(event)
                made.append(event)
        return made

    def add_raw(self, event: dict) -> None:
        """An event exactly as given, valid or not."""
        with self.lock:
            self.events.append(event)

    def forget(self, count: int) -> None:
        """The ``count`` oldest events are no longer held: a cursor before them gets 410."""
        with self.lock:
            del self.events[:count]
            self.forgotten += count

    def shn_misbehave(self, **kw) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self.shn, k, v)

    def state(self) -> dict:
        return {"held": len(self.events), "forgotten": self.forgotten, "tokens_issued": self.tokens_issued,
                "pages": self.pages, "rate_limited": self.rate_limited, "refused_tokens": self.refused_tokens,
                "handed_out": len(self.handed_out), "handed_out_distinct": len(set(self.handed_out))}

    def _control(self, h, method):
        if method == "POST":  # SHN's own modes beside the common ones
            body = json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)) or b"{}")
            mine = {k: body.pop(k) for k in list(body) if hasattr(self.shn, k)}
            self.shn_misbehave(**mine)
            self.misbehave(**body)
        state = {"calls": self.calls, "shn": vars(self.shn), **self.state()}
        self.reply(h, 200, json.dumps(state, indent=2).encode(), {"Content-Type": "application/json"})

    # -- the service -------------------------------------------------------------------------
    def handle(self, h, method, body):
        path = urlsplit(h.path)
        if method == "POST" and path.path == "/oauth2/token":
            return self._token(h, body)
        if method == "GET" and path.path == FEED:
            with self.feed_lock:  # one page at a time, as the rate limit counts them
                return self._page(h, parse_qs(path.query))
        return _problem(404, "unknown resource")

    def _token(self, h, body):
        fout = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        auth = h.headers.get("Authorization", "")
        try:
            client_id, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except (ValueError, binascii.Error):
            client_id = secret = ""
        if not auth.startswith("Basic ") or client_id != HUB_OIN or not secrets.compare_digest(secret, self.secret):
            return 401, {**fout, "WWW-Authenticate": 'Basic realm="shn"'}, b'{"error":"invalid_client"}'
        form = parse_qs(body.decode("ascii", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return 400, fout, b'{"error":"unsupported_grant_type"}'
        if form.get("scope", [SCOPE]) != [SCOPE]:
            return 400, fout, b'{"error":"invalid_scope"}'
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
            self.tokens_issued += 1
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime, "scope": SCOPE}
        return 200, fout, json.dumps(answer).encode()

    def _page(self, h, query):
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        with self.lock:
            if self.shn.revoke_tokens:
                self.tokens.clear()
                self.shn.revoke_tokens = False
            valid = token is not None and self.tokens.get(token, 0) > time.monotonic()
        if not valid or self.shn.reject_tokens:
            self.refused_tokens += 1
            return _problem(401, "token missing, unknown or expired", {"WWW-Authenticate": 'Bearer realm="shn"'})
        now = time.monotonic()
        if self.last_page_call is not None and now - self.last_page_call < self.rate_limit_seconds:
            self.rate_limited += 1
            self.last_page_call = now
            return _problem(429, "at most one request a second", {"Retry-After": "1"})
        self.last_page_call = now
        if self.take("fail_next"):
            code = int(self.misbehaviour.fail_with) if self.misbehaviour.fail_with.isdigit() else 503
            headers = {"Retry-After": str(self.misbehaviour.retry_after)} if code in (429, 503) else {}
            return _problem(code, "not now" if code >= 429 else "refused", headers)
        if self.shn.gone:
            return _problem(410, "the cursor points before the oldest event held")
        size = query.get("max", ["100"])[0]
        if not (size.isdigit() and 1 <= int(size) <= 1000):
            return _problem(400, "max must be 1 to 1000")
        with self.lock:
            if "vanaf" in query:
                position = _position(query["vanaf"][0])
                if position is None or position > self.forgotten + len(self.events):
                    return _problem(400, "a cursor SHN did not issue")
                if position < self.forgotten:
                    return _problem(410, "the cursor points before the oldest event held")
            else:
                position = self.forgotten
            start = position - self.forgotten
            page = self.events[start:start + int(size)]
            end = position + len(page)
            more = end < self.forgotten + len(self.events)
            self.pages += 1
            self.handed_out += [e.get("berichtId", "") for e in page]
        if self.take_shn("not_json_next"):
            return 200, {"Content-Type": "application/json"}, b"<html>Service tijdelijk niet beschikbaar</html>"
        answer = {"gebeurtenissen": page, "volgende": cursor(end), "meerBeschikbaar": more}
        if self.take_shn("no_cursor_next"):
            del answer["volgende"]
        return 200, {"Content-Type": "application/json"}, json.dumps(answer, ensure_ascii=False).encode()

    def take_shn(self, counter: str) -> bool:
        with self.lock:
            n = getattr(self.shn, counter)
            if n > 0:
                setattr(self.shn, counter, n - 1)
                return True
            return False

    def connection(self, **extra) -> dict:
        """The Connection ketenhub_shn: the base URL, the TLS fields, and the client secret as password."""
        return {**super().connection(**extra), "password": self.secret}
