"""The hub's own SOAP service for partners that call the hub (CJIB's LeverSlachtofferinformatie),
run by ``ketenhub serve``: a small ASGI app on uvicorn over two-way TLS, apart from Airflow's API
server (partner traffic and the operators' UI stay apart).

A call is checked whole first (receive.push: TLS client certificate, WS-Security signature,
Timestamp, addressing, 1 to 100 events); a refused call stores nothing, is answered with a
soap:Client Fault naming the reason and is recorded in the audit trail. A call that passes goes
through the hub's intake like any partner's payload (pipeline.ingest: kept, each event
validated, normalised, routed and committed with its deliveries, or quarantined with its
reason), and only then is it answered: ONTVANGEN for an event committed now, DUPLICAAT for a
BerichtId stored before, AFGEWEZEN with the reason for a refused one. The answer is signed with
the hub's certificate and confirms the request's signature. When the store is down, the answer
is HTTP 503 with a soap:Server Fault and CJIB sends the call again.

Stored events are handed on at once: the service triggers a run of the partner's receiving DAG
through Airflow's REST API (Connection ``ketenhub_airflow_api``), which takes up anything the
service spooled and, done, lets the delivery DAGs run (docs/cjib-service.md).

Configuration (Connection ``ketenhub_serve``): host and port to listen on, and in its extra the
hub's TLS certificate and key (``cert_pem``/``key_pem``), the CA that issued the partners'
certificates (``ca_pem``), and the hub's RSA signing certificate and key
(``signing_cert_pem``/``signing_key_pem``; each also as ``*_file``).
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from cryptography import x509
from lxml import etree
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from ketenhub.adapters import Partner
from ketenhub.connections import Endpoint, endpoint
from ketenhub.hub import Hub
from ketenhub.names import shown
from ketenhub.pipeline import ingest
from ketenhub.protocols import wssecurity
from ketenhub.protocols.http import HttpClient
from ketenhub.protocols.wssecurity import SOAP, Credentials
from ketenhub.receive.base import Incoming
from ketenhub.receive.push import CallRefused, check_call, soap_action
from ketenhub.settings import HUB_OIN
from ketenhub.store import inbound, routed
from ketenhub.states import PayloadState
from ketenhub.xml.parsing import parser

log = logging.getLogger(__name__)
SERVE = "serve"  # Connection ketenhub_serve
AIRFLOW_API = "airflow_api"  # Connection ketenhub_airflow_api
XML = "text/xml; charset=utf-8"


def _pem(ep: Endpoint, name: str) -> str | None:
    text, path = ep.extra.get(f"{name}_pem"), ep.extra.get(f"{name}_file")
    return text or (Path(path).read_text() if path else None)


@dataclass(frozen=True)
class ServiceTls:
    """What the service needs of ``ketenhub_serve``: PEM text of the hub's TLS certificate and
    key, of the partners' CA, and of the hub's signing certificate and key."""
    cert_pem: str
    key_pem: str
    ca_pem: str
    signing: Credentials
    host: str = "0.0.0.0"
    port: int = 8443

    @classmethod
    def from_endpoint(cls, ep: Endpoint) -> "ServiceTls":
        values = {n: _pem(ep, n) for n in ("cert", "key", "ca", "signing_cert", "signing_key")}
        missing = [n for n, v in values.items() if not v]
        if missing:
            raise ValueError(f"Connection {ep.conn_id}: extra lacks {', '.join(f'{m}_pem' for m in missing)} "
                             "(two-way TLS and signed answers need them)")
        return cls(values["cert"], values["key"], values["ca"],
                   Credentials.from_pem(values["signing_cert"], values["signing_key"], ep.extra.get("key_password")),
                   ep.host or "0.0.0.0", int(ep.port or 8443))

    @property
    def cas(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.ca_pem.encode())


class DagTrigger:
    """Starts a run of a DAG through Airflow's REST API, from a thread of its own so that no answer
    waits for it; triggers asked for while one is on its way become one more run. The run's conf
    ``routed_after`` is the last delivery id before the calls it is for stored theirs: the
    receiving task announces the deliveries made since (the service made them, not the run)."""

    def __init__(self, ep: Endpoint, dag_id: str, timeout: float = 30):
        self.ep, self.dag_id, self.timeout = ep, dag_id, timeout
        # The hub's HTTP client: the Connection's CA in memory, no redirect followed, a deadline per call.
        self.http = HttpClient(timeout, deadline=2 * timeout, tls=ep.tls(None))
        self.wanted = threading.Event()
        self.fired = 0  # triggers asked for
        self.runs = 0  # runs started
        self.routed_after: int | None = None  # for the next run: the lowest watermark asked for
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, name=f"trigger-{dag_id}", daemon=True).start()

    def fire(self, routed_after: int) -> None:
        with self.lock:
            self.fired += 1
            self.routed_after = routed_after if self.routed_after is None else min(self.routed_after, routed_after)
        self.wanted.set()

    def _loop(self) -> None:
        while True:
            self.wanted.wait()
            self.wanted.clear()
            with self.lock:
                routed_after, self.routed_after = self.routed_after, None
            try:
                self.trigger(routed_after)
            except Exception as e:  # the DAG's own schedule takes it up; say so
                log.warning("could not trigger %s through Airflow's API: %s", self.dag_id, type(e).__name__)

    def trigger(self, routed_after: int | None) -> None:
        base = self.ep.base_url
        token = self._post(f"{base}/auth/token", {"username": self.ep.login, "password": self.ep.password})
        self._post(f"{base}/api/v2/dags/{self.dag_id}/dagRuns",
                   {"logical_date": None, "conf": {"routed_after": routed_after},
                    "note": "triggered by ketenhub serve: events received"},
                   {"Authorization": f"Bearer {token['access_token']}"})
        self.runs += 1
        log.info("triggered %s", self.dag_id)

    def _post(self, url: str, body: dict, headers: dict | None = None) -> dict:
        answer = self.http.post(url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})},
                                f"Airflow's API for {self.dag_id}")
        if answer.status >= 300:
            raise AirflowRefused(f"Airflow's API answered HTTP {answer.status}")
        return json.loads(answer.content)


class AirflowRefused(Exception):
    """Airflow's API did not take the call (wrong login, no permission, no such DAG)."""


def fault(code: str, reason: str) -> bytes:
    """A SOAP 1.1 Fault: ``soap:Client`` (the call is refused, do not send it again unchanged) or
    ``soap:Server`` (send it again later)."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    f = etree.SubElement(etree.SubElement(env, f"{{{SOAP}}}Body"), f"{{{SOAP}}}Fault")
    etree.SubElement(f, "faultcode").text = f"soap:{code}"
    etree.SubElement(f, "faultstring").text = reason
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


_LINE = re.compile(r"^line \d+, ", re.M)


def _reden(reason: str) -> str:
    """The intake's reason as one line for the answer; its line numbers are of the stored body,
    not of CJIB's message, so they are left out (the element path says where). A fault of the
    hub's own is said as such, without its details (another partner's message, the mapping)."""
    if f"(rule: {inbound.KeyTaken.RULE})" in reason:
        return ("not taken in, for a fault of the hub's own, not of the message; the hub keeps it and takes it in "
                "once mended: there is no need to send it again")
    return "; ".join(_LINE.sub("", reason).splitlines())


class Service:
    """One partner's push service: the checks, the intake and the answer, without HTTP."""

    def __init__(self, hub: Hub, partner: Partner, tls: ServiceTls, trigger: DagTrigger | None = None):
        self.hub, self.partner, self.tls, self.trigger = hub, partner, tls, trigger
        self.action = soap_action(hub.settings.schemas_dir / partner.receive.wsdl, partner.receive.operation)
        self.cas = tls.cas
        self.spool = hub.settings.path(partner.receive.folder)
        self.namespace = partner.namespace
        # One call stored at a time: a BerichtId in two calls at once is then ONTVANGEN in one and
        # DUPLICAAT in the other, and the store is not asked to write two payloads at once.
        self.storing = threading.Lock()

    def handle(self, data: bytes, client_cert: x509.Certificate | None, soap_action_header: str | None) \
            -> tuple[int, bytes]:
        at = datetime.datetime.now(datetime.timezone.utc)
        try:
            call = check_call(data, client_cert, soap_action_header, self.partner, HUB_OIN, self.action, self.cas, at)
        except CallRefused as e:
            self._refused(e.reason)
            return 500, fault("Client", e.reason)
        try:
            with self.storing:
                routed_after, results = self._store(call)
        except Exception as e:
            log.error("%s call not stored (%s): answered soap:Server, the partner sends it again",
                      self.partner.name, type(e).__name__)
            return 503, fault("Server", "the hub cannot take the call now; send it again later")
        if self.trigger and any(code == "ONTVANGEN" for _, code, _ in results):
            self.trigger.fire(routed_after)
        return 200, self._answer(call, results)

    def _refused(self, reason: str) -> None:
        log.warning("%s call refused: %s", self.partner.name, reason)
        try:
            with self.hub.engine.begin() as conn:
                inbound.refuse_call(conn, self.partner.partner, f"{self.action.rpartition(':')[2]} refused: {reason}")
        except Exception as e:
            log.error("the refused call could not be recorded in the audit trail (%s)", type(e).__name__)

    def _store(self, call) -> tuple[int, list[tuple[str, str, str | None]]]:
        """The intake of the call's events: the last delivery id before it, and per event in order
        (BerichtId, Code, Reden)."""
        # The body as signed (exclusive c14n): the payload the intake keeps and reads, and so where
        # the events' BerichtIds and lines are read from, as the store has them.
        body = etree.tostring(call.request, method="c14n", exclusive=True, with_comments=False)
        tag = f"{{{self.namespace}}}BerichtId"
        events = [el for el in etree.fromstring(body, parser()) if el.tag == self.partner.event]
        ids, lines = [(el.findtext(tag) or "").strip() for el in events], [el.sourceline for el in events]
        with self.hub.engine.begin() as conn:
            before = inbound.stored_bericht_ids(conn, self.partner.partner, ids)
            routed_after = routed.watermark(conn)
        self.spool.mkdir(parents=True, exist_ok=True)
        part = self.spool / f"{uuid.uuid4()}.xml.part"
        part.write_bytes(body)
        try:
            name = f"{shown(call.message.message_id)[:200]}.xml"  # the payload's name: CJIB's MessageID
            report = ingest(self.hub, self.partner, Incoming(name, part))
            with self.hub.engine.begin() as conn:
                after = inbound.stored_bericht_ids(conn, self.partner.partner, ids)
                quarantined = inbound.quarantined_events(conn, self.partner.partner, report.sha256)
        except Exception:
            os.replace(part, part.with_suffix(""))  # now <id>.xml: the receiving DAG takes it up
            raise
        part.unlink(missing_ok=True)  # kept under payloads/ by its SHA-256
        if report.state == PayloadState.REJECTED:  # the intake refused the body as a whole
            reason = "; ".join(str(p) for p in report.problems)
            return routed_after, [(b, "AFGEWEZEN", reason) for b in ids]
        # Each refused event's reason found by its line and BerichtId, or its line alone where the
        # hub names it by none (see processing): an event answered DUPLICAAT may have been refused
        # too, and a body may hold every event on one line.
        reasons: dict[tuple, deque[str]] = {}
        for named, line, reason in quarantined:
            reasons.setdefault((line, named), deque()).append(reason)
        results, seen = [], set()
        for bericht_id, line in zip(ids, lines):
            if bericht_id in before or bericht_id in seen:
                code, reason = "DUPLICAAT", None
            elif bericht_id in after:
                code, reason = "ONTVANGEN", None
            else:
                found = reasons.get((line, bericht_id)) or reasons.get((line, None))
                code, reason = "AFGEWEZEN", _reden(found.popleft()) if found else "the event was not stored"
            if code != "AFGEWEZEN":
                seen.add(bericht_id)
            results.append((bericht_id, code, reason))
        return routed_after, results

    def _answer(self, call, results) -> bytes:
        ns = self.namespace
        answer = etree.Element(f"{{{ns}}}LeverSlachtofferinformatieAntwoord", nsmap={None: ns})
        for bericht_id, code, reason in results:
            r = etree.SubElement(answer, f"{{{ns}}}Resultaat")
            etree.SubElement(r, f"{{{ns}}}BerichtId").text = bericht_id
            etree.SubElement(r, f"{{{ns}}}Code").text = code
            if reason:
                etree.SubElement(r, f"{{{ns}}}Reden").text = reason
        message = call.message
        env = wssecurity.envelope(answer, self.action + "Response", to=message.sender, sender=message.to,
                                  relates_to=message.message_id, confirmation=message.signature_value)
        return wssecurity.sign(env, self.tls.signing)


def application(service: Service) -> Starlette:
    partner = service.partner
    most = partner.limits.payload_bytes

    async def lever(request: Request) -> Response:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > most:
                return Response(fault("Client", f"the message is larger than {most} bytes"), 413, media_type=XML)
            chunks.append(chunk)
        chain = (request.scope.get("extensions") or {}).get("tls", {}).get("client_cert_chain") or []
        cert = x509.load_pem_x509_certificate(chain[0].encode()) if chain else None
        status, body = await run_in_threadpool(service.handle, b"".join(chunks), cert,
                                               request.headers.get("soapaction"))
        headers = {"Retry-After": "60"} if status == 503 else None
        return Response(body, status, media_type=XML, headers=headers)

    return Starlette(routes=[Route(partner.receive.path, lever, methods=["POST"])])


class TlsH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, telling the app the client's certificate as the ASGI TLS
    extension does (``scope["extensions"]["tls"]["client_cert_chain"]``): uvicorn leaves it out."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        inner = self.app

        async def app(scope, receive, send):
            scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": chain}
            await inner(scope, receive, send)

        self.app = app


class Server:
    """The service on uvicorn over two-way TLS: a client certificate from the partners' CA is
    required. ``start`` runs it on a thread (the tests, the demo), ``run`` in the foreground."""

    def __init__(self, service: Service, host: str | None = None, port: int | None = None):
        tls = service.tls
        self.folder = Path(tempfile.mkdtemp(prefix="ketenhub-serve-"))  # 0700: the key is written here
        files = {}
        for name, text in (("cert", tls.cert_pem), ("key", tls.key_pem), ("ca", tls.ca_pem)):
            path = self.folder / f"{name}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            files[name] = str(path)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host or tls.host, tls.port if port is None else port))
        self.port = self.socket.getsockname()[1]
        self.socket.listen(128)  # from here on a client waits in the backlog until uvicorn takes it
        config = uvicorn.Config(application(service), http=TlsH11Protocol, ssl_certfile=files["cert"],
                                ssl_keyfile=files["key"], ssl_ca_certs=files["ca"], ssl_cert_reqs=ssl.CERT_REQUIRED,
                                log_level="warning", access_log=False, timeout_graceful_shutdown=5, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> "Server":
        self.thread = threading.Thread(target=self.run, name="ketenhub-serve", daemon=True)
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread:
            self.thread.join(10)


def service_from_connections(hub: Hub, partner: Partner, tls: ServiceTls | None = None) -> Service:
    """The service as the Connections ``ketenhub_serve`` and ``ketenhub_airflow_api`` configure it."""
    if tls is None:
        ep = endpoint(SERVE)
        if ep is None:
            raise ValueError("no Airflow Connection ketenhub_serve: it gives the service's address, TLS certificate "
                             "and key, the partners' CA and the hub's signing certificate (docs/cjib-service.md)")
        tls = ServiceTls.from_endpoint(ep)
    api = endpoint(AIRFLOW_API)
    if api is None:
        log.warning("no Connection ketenhub_airflow_api: received events wait for ketenhub_receive_%s's schedule",
                    partner.partner)
    trigger = DagTrigger(api, f"ketenhub_receive_{partner.partner}") if api else None
    return Service(hub, partner, tls, trigger)

