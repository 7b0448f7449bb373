"""The Digitaal Loket Verkeer: POST /dlv/v1/beroepen/{DlvZaaknummer}/status with a BeroepStatus.

201 for a new Idempotency-Key, 200 for one it already has; 400 for a body that is not valid
against the XSD, 422 when the path and the body disagree or the key is refused, 429/503 with
Retry-After when told to misbehave. Every accepted status is kept as <Idempotency-Key>.xml (unless
``keep_files`` is off)."""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from lxml import etree

from ketenhub.simulators.base import Simulator
from ketenhub.simulators.soap import SCHEMAS
from ketenhub.xml.parsing import parser
from ketenhub.xml.schema import compile_schema

NS = "urn:keten:dlv:beroepstatus:v1"
PATH = re.compile(r"^/dlv/v1/beroepen/(DLV-20\d{2}-\d{7})/status$")


class DlvSimulator(Simulator):
    oin = "00000099000000031000"

    def __init__(self, port: int = 0, store: Path | None = None, keep_files: bool = True, **tls):
        super().__init__(port, **tls)
        self.schema = compile_schema(str(SCHEMAS / "dlv/beroepstatus-v1.xsd"))
        self.keep_files = keep_files  # off for the benchmark: a file per status costs more than the rest
        self.store = Path(store or tempfile.mkdtemp(prefix="dlv-"))
        self.store.mkdir(parents=True, exist_ok=True)
        self.accepted: dict[str, bytes] = {}
        self.replays = 0
        self.accepted_at: dict[str, float] = {}  # Idempotency-Key -> when it was accepted (freshness)

    def handle(self, h, method, body):
        m = PATH.match(h.path)
        if method != "POST" or not m:
            return 404, {}, b"unknown resource"
        if not h.headers.get("Content-Type", "").startswith("application/xml"):
            return 400, {}, b"Content-Type must be application/xml"
        key = h.headers.get("Idempotency-Key")
        if not key:
            return 400, {}, b"Idempotency-Key header missing"
        if self.take("fail_next"):
            code = int(self.misbehaviour.fail_with) if self.misbehaviour.fail_with.isdigit() else 503
            headers = {"Retry-After": str(self.misbehaviour.retry_after)} if code in (429, 503) else {}
            return code, headers, b"busy"
        try:
            doc = etree.fromstring(body, parser())
        except etree.XMLSyntaxError:
            return 400, {}, b"body is not well-formed XML"
        if not self.schema.validate(doc):
            return 400, {}, f"body is not a valid BeroepStatus: {self.schema.error_log.last_error.message}".encode()
        if doc.findtext(f"{{{NS}}}DlvZaaknummer") != m[1] or doc.findtext(f"{{{NS}}}BerichtId") != key:
            return 422, {}, b"DlvZaaknummer or BerichtId does not match the path or Idempotency-Key"
        if key in self.misbehaviour.refuse:
            return 422, {}, b"beroep is closed"
        with self.lock:
            if key in self.accepted:
                self.replays += 1
                return 200, {}, b""
            self.accepted[key] = body
            self.accepted_at[key] = time.time()
            if self.keep_files:
                (self.store / f"{key}.xml").write_bytes(body)
        return 201, {"Location": h.path}, b""

    def state(self):
        return {"accepted": len(self.accepted), "replays": self.replays, "store": str(self.store)}
