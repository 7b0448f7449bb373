"""Every partner and destination at once, wired for the hub: ``ketenhub simulate``.

Starts the Politie and KbSP SOAP services, the DLV HTTP service, SHN's REST feed (OAuth2, JSON),
the OM and CJIB SFTP servers and a CVOM drop-folder writer, keeps demo traffic flowing (with one
victim in one case at all five of the portal's sources: ``simulators.victim``), and
writes the Airflow Connections that reach them (host keys and login keys, the test CA, the
hub's client certificate and SHN's client secret included) to <workdir>/connections.json
(0600), for ``airflow connections import``. The SOAP and HTTP services serve two-way TLS with a
test CA made at the first start under <workdir>/tls/.
What the destinations accepted stays under <workdir>."""
from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from pathlib import Path

import paramiko

from ketenhub.simulators import cjib_push, victim
from ketenhub.simulators.cjib import CjibInbox
from ketenhub.simulators.cvom import drop
from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.simulators.generate import Generator
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.simulators.om import publish, publish_schadefonds
from ketenhub.simulators.politie import PolitieSimulator
from ketenhub.simulators.sftp import SftpSimulator
from ketenhub.simulators.shn import ShnSimulator
from ketenhub.simulators.tls import Pki, write_secret

log = logging.getLogger(__name__)
# The WSDLs name 8001, 8002 and 8443 (serve: the hub's own service that CJIB calls), SHN's openapi.yaml 8004.
PORTS = {"politie": 8001, "kbsp": 8002, "dlv": 8003, "shn": 8004, "om": 2221, "cjib": 2222, "serve": 8443}

PORTS["schadefonds"] = 2223  # its SFTP server


def _key_pem(key: paramiko.PKey) -> str:
    out = io.StringIO()
    key.write_private_key(out)
    return out.getvalue()


def next_om_file(outbox: Path, sequence: int) -> Path:
    """The OM's file of the day, 500 events of which about 1 % invalid (their reasons show in the task log);
    the first file begins with the demo victim's case events."""
    return publish(outbox, time.strftime("%Y%m%d"), sequence, 500, start=int(time.time()) % 10**6 * 1000 + sequence,
                   invalid_share=0.01, seed=int(time.time()) + sequence,
                   first=victim.om_events() if sequence == 1 else ())


def next_fund_file(outbox: Path, sequence: int) -> Path:
    """The Schadefonds' file of the day, 40 events of which about 5 % break its rules; the first
    begins with the demo victim's application."""
    return publish_schadefonds(outbox, time.strftime("%Y%m%d"), sequence, 40, invalid_share=0.05,
                               start=int(time.time()) % 10**6 * 100 + sequence, seed=int(time.time()) + sequence,
                               first=victim.fund_events() if sequence == 1 else ())


class VictimSteps:
    """The demo victim's steps that wait for the hub: SHN's help steps once the police report is
    stored (its Volgnummer confirmed), so that the case register links the registratienummer SHN
    names before SHN's steps arrive; CJIB's call until the hub's service has answered it."""

    def __init__(self, politie: PolitieSimulator, shn: ShnSimulator, melding: int):
        self.politie, self.shn, self.melding = politie, shn, melding
        self.shn_told = self.cjib_told = False

    def take(self, pusher: cjib_push.CjibClient) -> None:
        if not self.shn_told and self.politie.confirmed >= self.melding:
            for event in victim.shn_events():
                self.shn.add_raw(event)
            self.shn_told = True
        if not self.cjib_told:
            self.cjib_told = cjib_push.tell(pusher, cjib_push.request(victim.cjib_events()), "the demo victim")


def run(workdir: Path, cvom_folder: Path, interval: float = 30.0, ports: dict | None = None,
        stop: threading.Event | None = None) -> dict:
    """Start everything; with ``stop`` given, return the simulators at once (for tests),
    else produce traffic until interrupted."""
    ports = {**PORTS, **(ports or {})}
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)  # what the destinations received holds personal data
    client_key = paramiko.ECDSAKey.generate()
    pki = Pki(workdir / "tls")
    sims = {
        "politie": PolitieSimulator(ports["politie"], pki=pki).start(),
        "kbsp": KbspSimulator(ports["kbsp"], store=workdir / "kbsp" / "ontvangen", pki=pki).start(),
        "dlv": DlvSimulator(ports["dlv"], store=workdir / "dlv" / "ontvangen", pki=pki).start(),
        "shn": ShnSimulator(ports["shn"], pki=pki, seed=int(time.time())).start(),
        "om": SftpSimulator(workdir / "om", authorized_key=client_key, port=ports["om"]).start(),
        "cjib": SftpSimulator(workdir / "cjib", authorized_key=client_key, port=ports["cjib"]).start(),
        "schadefonds": SftpSimulator(workdir / "schadefonds", authorized_key=client_key,
                                     port=ports["schadefonds"]).start(),
    }
    for partner in ("om", "schadefonds"):
        for folder in ("outbox", "archive", "rejected"):
            (workdir / partner / folder).mkdir(parents=True, exist_ok=True)
    cjib = CjibInbox(workdir / "cjib")
    pem = _key_pem(client_key)
    connections = {
        **{f"ketenhub_{name}": sims[name].connection() for name in ("politie", "kbsp", "dlv", "shn")},
        "ketenhub_cvom": {"conn_type": "fs", "extra": json.dumps({"path": str(cvom_folder)})},
        "ketenhub_serve": {"conn_type": "http", "host": "127.0.0.1", "port": ports["serve"],
                           "extra": json.dumps(cjib_push.connection_extra(pki))},
        **{f"ketenhub_{name}": {"conn_type": "sftp", "host": "127.0.0.1", "port": sims[name].port,
                                "login": "ketenhub",
                                "extra": json.dumps({"host_key": sims[name].host_key_line, "private_key": pem})}
           for name in ("om", "cjib", "schadefonds")},
    }
    connections["ketenhub_kbsp_v2"] = sims["kbsp"].connections()["kbsp_v2"]  # KbSP's version 2, at its own path
    # It holds the login key of the SFTP servers and the TLS client key: readable by this user only.
    write_secret(workdir / "connections.json", json.dumps(connections, indent=2).encode())
    generator = Generator(int(time.time()))
    steps = VictimSteps(sims["politie"], sims["shn"], sims["politie"].add_melding(victim.melding))
    sims["politie"].add(25)
    sims["shn"].add(12)
    sims["shn"].add(3, informatiewens=False)
    sims["shn"].add(1, soort="HULP_GEWEIGERD")  # not in SHN's contract: quarantined with its JSON path and rule
    om_file = 1
    next_om_file(workdir / "om" / "outbox", om_file)
    fund_file = 1
    next_fund_file(workdir / "schadefonds" / "outbox", fund_file)
    for n in range(5):
        drop(cvom_folder, generator, int(time.time()) % 10**6 * 100 + n)
    if stop is not None:
        sims["cjib_inbox"], sims["victim"] = cjib, steps
        return sims
    pusher = cjib_push.CjibClient(f"https://localhost:{ports['serve']}{cjib_push.PATH}", pki)
    tick = 0
    while True:  # demo traffic: new meldingen, help and appeals, CJIB taking its inbox and pushing victim information
        time.sleep(interval)
        tick += 1
        sims["politie"].add(generator.r.randint(1, 5))
        sims["shn"].add(generator.r.randint(0, 3))
        drop(cvom_folder, generator, int(time.time()) % 10**6 * 100 + tick % 100)
        cjib.process()
        if not any((workdir / "om" / "outbox").glob("*.xml")):  # the hub took the last one: the tour may trigger again
            om_file += 1
            next_om_file(workdir / "om" / "outbox", om_file)
        if not any((workdir / "schadefonds" / "outbox").glob("*.xml")):
            fund_file += 1
            next_fund_file(workdir / "schadefonds" / "outbox", fund_file)
        cjib_push.demo(pusher, tick)
        steps.take(pusher)
