"""A partner's event feed over REST with JSON, polled, as a Source (adapter transport
``rest-json``; SHN's hulpverlening feed is one): ``GET {feed}?vanaf=<cursor>&max=<n>`` with a
bearer token from the partner's OAuth 2.0 token endpoint (protocols.oauth2), answered by a page
``{"<events>": [...], "volgende": "<cursor>", "meerBeschikbaar": bool}``.

Each page is one payload. The cursor is opaque: it is never parsed or built, only stored as the
partner wrote it, and only in ``done``, once every event of the page is durably stored (or kept
in quarantine with its reason), so that a crash in between makes the feed hand the same events
out again, and the store recognises them by their BerichtId. ``meerBeschikbaar`` true: the next
page is asked for at once (after the feed's one-request-a-second pace), up to ``max_pages`` a
run.

What the feed answers:
- 401: a new token, then once more; a second 401 is an alert (the credentials are wrong);
- 429 and 503: wait Retry-After (at least that, at most ``retry_after_max_seconds``; a longer
  wait ends the run, and the next run goes on from the cursor); other 5xx and a dropped
  connection: try again with backoff, a few times, then the run fails and the next one goes on;
- 400 and 403: a configuration error, an alert: the run fails, nothing is retried;
- 410: the cursor points before the oldest event the partner still holds, so events may have
  been missed: an alert for an operator, who decides how to go on (the hub never restarts the
  feed from its start by itself);
- a page that is not JSON, or has no cursor: a failed poll; the page is kept in quarantine with
  its reason, the cursor stays, and the run fails.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from ketenhub.protocols import errors
from ketenhub.protocols.http import (Answer, AnswerTooLarge, DeadlineExceeded, PlainHttpRefused, TlsRefused,
                                     retry_after_seconds)
from ketenhub.protocols.oauth2 import ClientCredentialsClient, TokenRefused, TokenUnavailable
from ketenhub.receive.base import Incoming, Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestOptions:
    """The rest of a ``rest-json`` partner's ``receive:`` section (docs/adapters.md)."""
    feed: str  # the feed's path after the Connection's base URL: /shn/v1/gebeurtenissen
    token: str  # the token endpoint's path: /oauth2/token
    scope: str | None = None
    page_size: int = 1000  # events asked for per page (the feed's max)
    cursor_parameter: str = "vanaf"
    size_parameter: str = "max"
    next_member: str = "volgende"  # the page's member with the cursor for the next call
    more_member: str = "meerBeschikbaar"  # the page's member saying more is ready now
    min_interval_seconds: float = 1.0  # the feed's pace: at most one request this often
    retry_after_max_seconds: float = 300.0  # a longer Retry-After ends the run instead
    attempts: int = 5  # tries of one page while the feed is busy or down
    backoff_seconds: float = 2.0  # the first wait between them without a Retry-After; doubled each time
    token_leeway_seconds: float = 30.0  # a token is renewed this long before it expires


OPTIONS = RestOptions  # receive.kinds.declared_options


class FeedAlert(Exception):
    """The feed refused the hub in a way trying again does not mend: an operator must act."""


class CursorGone(FeedAlert):
    """410: the stored cursor points before the oldest event the partner still holds."""


class FeedUnavailable(Exception):
    """The feed stayed busy or down through this run's tries: the next run goes on from the cursor."""


class PageRejected(Exception):
    """A page the hub could not take as a whole (not JSON, no cursor, against the schema): kept in
    quarantine with its reason; the cursor stays."""


class FeedInbox(Source):
    per_event = True  # a page whose events were all rejected is stored nonetheless: the feed moves on
    ordered = True  # the opaque cursor moves on with each page stored

    def __init__(self, client: ClientCredentialsClient, feed_url: str, options: RestOptions, cursor, workdir: Path,
                 label: str, max_pages: int = 100, sleep: Callable[[float], None] | None = None):
        self.client, self.url, self.options, self.cursor = client, feed_url, options, cursor
        self.workdir, self.label, self.max_pages = Path(workdir), label, max_pages
        self.sleep = sleep or (lambda seconds: _sleep(seconds))
        self._pages: dict[str, tuple[str | None, bool]] = {}  # name: (next cursor, more ready)
        self._stopped = False
        self._last_call: float | None = None

    def ready(self) -> Iterator[Incoming]:
        try:
            yield from self._pages_from(self.cursor.token())
        finally:
            self.client.close()  # its kept-alive connections: the next run is minutes away

    def _pages_from(self, position: str | None) -> Iterator[Incoming]:
        for n in range(1, self.max_pages + 1):
            answer = self._page(position)
            self.workdir.mkdir(parents=True, exist_ok=True)
            name = f"{self.label.lower()}-pagina-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{n:03d}.json"
            path = self.workdir / name
            path.write_bytes(answer.content)
            self._pages[name] = _cursor_of(answer.content, self.options)
            yield Incoming(name, path)
            if self._stopped:
                return
            position, more = self._pages.pop(name)
            if not more:
                return
        log.warning("%s: %d pages read, the most for one run (adapter max_pages); the next run goes on "
                    "from the stored cursor", self.label, self.max_pages)

    def done(self, item: Incoming, accepted: bool, report: str) -> None:
        item.path.unlink(missing_ok=True)  # kept under payloads/ by its SHA-256
        following, _ = self._pages.get(item.name, (None, False))
        if not accepted or following is None:
            self._stopped = True
            raise PageRejected(f"{self.label}: the page {item.name} could not be taken whole; it is kept in "
                               "quarantine with its reason, and the cursor stays where it was")
        # Every event of the page is stored (or kept with its reason) and committed: only now
        # may the cursor move on. A crash before this line brings the same events again.
        self.cursor.advance_token(following)

    def _pace(self) -> None:
        """The feed's pace, counted from the end of the last call: its start may have waited for a
        token or a handshake, which would bring this one closer to it at the partner's end."""
        if self._last_call is not None:
            wait = self.options.min_interval_seconds - (time.monotonic() - self._last_call)
            if wait > 0:
                self.sleep(wait)

    def _page(self, position: str | None) -> Answer:
        o = self.options
        params = {o.size_parameter: o.page_size}
        if position:
            params[o.cursor_parameter] = position
        what = f"{self.label} feed"
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            self._pace()
            wait = None
            try:
                try:
                    answer = self._refused_token_is_an_alert(self.client.get, self.url, params, what)
                finally:
                    self._last_call = time.monotonic()
            except (PlainHttpRefused, TlsRefused) as e:  # the Connection or a certificate: not mended by waiting
                raise FeedAlert(f"{what}: {e}") from None
            except TokenUnavailable as e:
                wait, why = e.retry_after, str(e)
            except (errors.RequestException, DeadlineExceeded, AnswerTooLarge) as e:
                why = f"{what}: {type(e).__name__}"
            else:
                status = answer.status
                if status == 200:
                    return answer
                why = f"{what}: HTTP {status}"
                if status == 401 and not renewed:  # the token expired or was withdrawn: a new one, once
                    self._refused_token_is_an_alert(self.client.renew)
                    renewed, attempt = True, attempt - 1
                    continue
                if status == 401:
                    raise FeedAlert(f"{why} with a new token too: check the client's registration and scope "
                                    f"with {self.label}")
                if status in (400, 403):
                    raise FeedAlert(f"{why}: {'a parameter or cursor refused' if status == 400 else 'not allowed'}"
                                    f"; a configuration error that trying again does not mend: check the adapter "
                                    f"and the client's registration with {self.label}")
                if status == 410:
                    raise CursorGone(f"{why}: the stored cursor points before the oldest event {self.label} still "
                                     "holds, so events may have been missed. An operator decides how to go on "
                                     f"(ask {self.label} for the missed events, then start at the oldest event held: "
                                     f"ketenhub cursor clear --partner {self.label.lower()}); the hub does not "
                                     "restart by itself")
                if status in (429, 503):
                    wait = retry_after_seconds(answer.headers.get("Retry-After"))
                elif status < 500:
                    raise FeedAlert(f"{why}: an answer the contract does not name; not retried")
            if attempt >= o.attempts:
                raise FeedUnavailable(f"{why}, {attempt} times; the next run goes on from the stored cursor")
            delay = o.backoff_seconds * 2 ** (attempt - 1) if wait is None else wait
            if delay > o.retry_after_max_seconds:
                raise FeedUnavailable(f"{why}: asked to wait {delay:g} s, more than the adapter's "
                                      f"retry_after_max_seconds ({o.retry_after_max_seconds:g}); the next run goes "
                                      "on from the stored cursor")
            log.warning("%s; waiting %g s (attempt %d of %d)", why, delay, attempt, o.attempts)
            self.sleep(delay)

    def _refused_token_is_an_alert(self, call, *args):
        try:
            return call(*args)
        except TokenRefused as e:
            raise FeedAlert(f"{e}: check the client secret in the Connection and the hub's registration "
                            f"with {self.label}") from None


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _cursor_of(content: bytes, o: RestOptions) -> tuple[str | None, bool]:
    """The page's next cursor and whether more is ready; (None, False) for a page without them,
    which the pipeline then refuses with the reason."""
    try:
        page = json.loads(content)
    except ValueError:
        return None, False
    if not isinstance(page, dict):
        return None, False
    following = page.get(o.next_member)
    if not isinstance(following, str) or not following:
        return None, False
    return following, page.get(o.more_member) is True


def configured(partner, endpoint, setup) -> FeedInbox:
    """The partner's feed at its Connection (receive.kinds): the host is the base URL, the
    password the client secret; the client id is the hub's OIN (or the Connection's login)."""
    from ketenhub.receive.kinds import options
    from ketenhub.settings import HUB_OIN

    o = options(RestOptions, partner)
    r = partner.receive
    if not endpoint.password:
        raise FeedAlert(f"{partner.partner}: the Connection {endpoint.conn_id} has no password: the client secret "
                        f"for {partner.name}'s token endpoint goes there")
    base = endpoint.base_url
    client = ClientCredentialsClient(base + o.token, endpoint.login or HUB_OIN, endpoint.password, o.scope,
                                     endpoint.tls(partner.oin), endpoint.timeout, r.call_deadline_seconds,
                                     r.answer_max_bytes, o.token_leeway_seconds, partner.name)
    return FeedInbox(client, base + o.feed, o, setup.cursor, setup.workdir, partner.partner.upper(), r.max_pages)
