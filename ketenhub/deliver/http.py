"""DLV over HTTP: POST {base}/dlv/v1/beroepen/{DlvZaaknummer}/status, Idempotency-Key = BerichtId.

201 accepted, 200 already had it: delivered. 400/404/409/422: refused for good, with DLV's
reason. 429 and 503: retry after Retry-After seconds. Other 5xx and no answer: retry later.
"""
from __future__ import annotations

import requests
from lxml import etree

from ketenhub.deliver.transports import ItemResult, Transport
from ketenhub.validate.parsing import parser

NS = "urn:keten:dlv:beroepstatus:v1"
PERMANENT = {400, 404, 409, 422}


class DlvTransport(Transport):
    def __init__(self, base_url: str, timeout: float = 30, auth: tuple[str, str] | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()  # kept alive across documents
        self.session.auth = auth

    def send(self, name: str, document: bytes, keys: list[str]) -> dict[str, ItemResult]:
        (key,) = keys
        status = etree.fromstring(document, parser())
        zaaknummer = status.findtext(f"{{{NS}}}DlvZaaknummer")
        url = f"{self.base_url}/dlv/v1/beroepen/{zaaknummer}/status"
        try:
            r = self.session.post(url, data=document, timeout=self.timeout, allow_redirects=False,
                                  headers={"Content-Type": "application/xml", "Idempotency-Key": key})
        except requests.RequestException as e:
            return {key: ItemResult("retry", f"DLV: {type(e).__name__}")}
        if r.status_code in (200, 201):
            return {key: ItemResult("delivered")}
        reason = f"DLV: HTTP {r.status_code}: {r.text.strip()[:500]}"
        if r.status_code in PERMANENT:
            return {key: ItemResult("failed", reason)}
        retry_after = r.headers.get("Retry-After")
        return {key: ItemResult("retry", reason, float(retry_after) if retry_after and retry_after.isdigit() else None)}
