"""DLV over HTTP: POST {base}/dlv/v1/beroepen/{DlvZaaknummer}/status, Idempotency-Key = BerichtId.

201 accepted, 200 already had it: delivered. 400/404/409/422: refused for good, with DLV's
reason. 429 and 503: retry after Retry-After (seconds or an HTTP-date; the wait is capped by
the run). Other 5xx, no answer or no complete answer within the deadline: retry later. A
redirect is never followed: the item fails, for an operator to look at the Connection.
"""
from __future__ import annotations

import requests
from lxml import etree

from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.protocols.http import (DEFAULT_ANSWER_MAX_BYTES, DEFAULT_DEADLINE_SECONDS, AnswerTooLarge,
                                     DeadlineExceeded, HttpClient, Redirected, Tls, retry_after_seconds)
from ketenhub.validate.parsing import parser

NS = "urn:keten:dlv:beroepstatus:v1"
PERMANENT = {400, 404, 409, 422}


def _outcome(status: int) -> str:
    return "delivered" if status in (200, 201) else "failed" if status in PERMANENT else "retry"


class DlvTransport(Transport):
    def __init__(self, base_url: str, timeout: float = 30, auth: tuple[str, str] | None = None,
                 deadline: float = DEFAULT_DEADLINE_SECONDS, max_bytes: int = DEFAULT_ANSWER_MAX_BYTES,
                 tls: Tls | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = HttpClient(timeout, deadline, max_bytes, auth, tls=tls)  # kept alive across documents

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        (key,) = keys
        status = etree.fromstring(document, parser())
        zaaknummer = status.findtext(f"{{{NS}}}DlvZaaknummer")
        url = f"{self.base_url}/dlv/v1/beroepen/{zaaknummer}/status"
        try:
            r = self.http.post(url, document, {"Content-Type": "application/xml", "Idempotency-Key": key}, "DLV")
        except Redirected as e:  # sending again goes to the same redirect: an operator must look
            return {key: ItemResult("failed", str(e))}
        except AnswerTooLarge as e:  # the status code still says what became of the item
            outcome = _outcome(e.status)
            return {key: ItemResult(outcome, None if outcome == "delivered" else str(e))}
        except DeadlineExceeded as e:
            return {key: ItemResult("retry", str(e))}
        except requests.RequestException as e:
            return {key: ItemResult("retry", f"DLV: {type(e).__name__}")}
        outcome = _outcome(r.status)
        if outcome == "delivered":
            return {key: ItemResult("delivered")}
        reason = f"DLV: HTTP {r.status}: {r.content[:2000].decode('utf-8', 'replace').strip()[:500]}"
        retry_after = retry_after_seconds(r.headers.get("Retry-After")) if outcome == "retry" else None
        return {key: ItemResult(outcome, reason, retry_after)}
