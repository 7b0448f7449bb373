"""A destination over HTTP: one item POSTed per request, to a URL made from the item, with an
idempotency header; the adapter says what each status code means. DLV is one:

    deliver:
      transport: http
      url: "/dlv/v1/beroepen/{d:DlvZaaknummer}/status"   # after the Connection's base URL
      content_type: application/xml
      idempotency_header: Idempotency-Key                # the item's key
      statuses: {200: delivered, 201: delivered, 400: failed, 404: failed, 409: failed, 422: failed}

In the URL, ``{...}`` is an XPath on the item (prefix ``d:``, the destination's namespace); its
value is percent-encoded, so it can never add a path or a query. A status the adapter does not
name is retried when it is 429 or 5xx (after ``Retry-After`` where the answer has one, capped
by the run), and fails otherwise. A redirect is never followed: the item fails, for an
operator to look at the Connection.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote

from lxml import etree

from ketenhub.deliver.transports import ItemResult, Transport, options
from ketenhub.protocols import errors
from ketenhub.protocols.http import (DEFAULT_ANSWER_MAX_BYTES, DEFAULT_DEADLINE_SECONDS, AnswerTooLarge,
                                     DeadlineExceeded, HttpClient, Redirected, Tls, retry_after_seconds)
from ketenhub.states import Outcome
from ketenhub.xml.parsing import parser

MAX_REASON = 500  # characters of an error body kept: the destination's words, not its whole answer
_PLACE = re.compile(r"\{([^{}]+)\}")
_PARSER = parser()  # lxml lets one parser serve several threads, one at a time: a new one a call cost more


@dataclass(frozen=True)
class HttpRequests:
    url: str  # path template after the base URL, with {XPath} places
    statuses: Mapping[int, str] = field(default_factory=dict)  # status code -> delivered, failed or retry
    content_type: str = "application/xml"
    idempotency_header: str | None = "Idempotency-Key"

    def __post_init__(self):
        object.__setattr__(self, "statuses", {int(k): v for k, v in self.statuses.items()})
        wrong = {code: o for code, o in self.statuses.items() if o not in set(Outcome)}
        if wrong:
            raise ValueError(f"statuses {wrong}: each must be one of {', '.join(Outcome)}")

    def outcome(self, status: int) -> str:
        return Outcome(self.statuses.get(status) or (Outcome.RETRY if status == 429 or status >= 500 else Outcome.FAILED))


OPTIONS = HttpRequests  # deliver.transports.declared_options


class HttpDestination(Transport):
    concurrent = True  # one client, whose pool keeps a connection alive for each call under way

    def __init__(self, base_url: str, spec: HttpRequests, label: str, namespace: str, timeout: float = 30,
                 auth: tuple[str, str] | None = None, deadline: float = DEFAULT_DEADLINE_SECONDS,
                 max_bytes: int = DEFAULT_ANSWER_MAX_BYTES, tls: Tls | None = None, concurrency: int = 1):
        self.base_url, self.spec, self.label = base_url.rstrip("/"), spec, label
        self.places = [(m.group(0), etree.XPath(f"string({m.group(1)})", namespaces={"d": namespace}))
                       for m in _PLACE.finditer(spec.url)]
        # Kept alive across documents, a connection for each call made at once.
        self.http = HttpClient(timeout, deadline, max_bytes, auth, tls=tls, connections=concurrency)

    def url(self, item: etree._Element) -> str:
        path = self.spec.url
        for place, xpath in self.places:
            path = path.replace(place, quote(xpath(item).strip(), safe=""), 1)
        return self.base_url + path

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        (key,) = keys  # one item per request: the adapter's envelope is `single`
        headers = {"Content-Type": self.spec.content_type}
        if self.spec.idempotency_header:
            headers[self.spec.idempotency_header] = key
        url = self.url(etree.fromstring(document, _PARSER))
        try:
            r = self.http.post(url, document, headers, self.label)
        except Redirected as e:  # sending again goes to the same redirect: an operator must look
            return {key: ItemResult(Outcome.FAILED, str(e))}
        except AnswerTooLarge as e:  # the status code still says what became of the item
            outcome = self.spec.outcome(e.status)
            return {key: ItemResult(outcome, None if outcome == Outcome.DELIVERED else str(e))}
        except DeadlineExceeded as e:
            return {key: ItemResult(Outcome.RETRY, str(e))}
        except (errors.PlainHttpRefused, errors.TlsRefused) as e:  # waiting mends no Connection or certificate
            why = str(e).removeprefix(f"{self.label}: ")
            return {key: ItemResult(Outcome.FAILED, f"{self.label}: {type(e).__name__}: {why}")}
        except errors.RequestException as e:
            return {key: ItemResult(Outcome.RETRY, f"{self.label}: {type(e).__name__}")}
        outcome = self.spec.outcome(r.status)
        if outcome == Outcome.DELIVERED:
            return {key: ItemResult(Outcome.DELIVERED)}
        body = r.content[:4 * MAX_REASON].decode("utf-8", "replace").strip()[:MAX_REASON]
        reason = f"{self.label}: HTTP {r.status}: {body}"
        retry_after = retry_after_seconds(r.headers.get("Retry-After")) if outcome == Outcome.RETRY else None
        return {key: ItemResult(outcome, reason, retry_after)}


def configured(hub, dest, ep, deadline: float) -> HttpDestination:
    return HttpDestination(ep.base_url, options(HttpRequests, dest), dest.label, dest.namespace, ep.timeout,
                           auth=(ep.login, ep.password) if ep.login else None, deadline=deadline,
                           max_bytes=dest.answer_max_bytes, tls=ep.tls(dest.oin), concurrency=dest.concurrency)
