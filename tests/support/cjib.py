"""The hub's CJIB service on loopback over two-way TLS, configured from its Connection as in
production, with CJIB's signing client; and KbSP v2's CJIB rows as a destination of their own
(the v2 mapping as the kbsp adapter uses it, without its version switch)."""
from __future__ import annotations

import json
from contextlib import contextmanager

from ketenhub.adapters import Destination
from ketenhub.serve import Server, service_from_connections
from ketenhub.simulators.cjib_push import PATH, CjibClient, connection_extra
from ketenhub.simulators.tls import default_pki

KBSP_V2 = "urn:keten:kbsp:zaakstatus:v2"
# CJIB's Veroordeelden in the contract's examples and the simulator's events: none of it may leave the kept payload.
VEROORDEELDE = ("805888718", "R. Hendriks", "1991-06-02", "Stationsweg", "7201 DN", "7201DN", "Zutphen",
                "K. Bos", "1984-11-23", "Lindelaan", "3811AB", "Amersfoort")


@contextmanager
def serving(hub, connection):
    """``ketenhub serve`` for CJIB on a free loopback port, and a CJIB client for it."""
    pki = default_pki()
    connection("serve", "http", host="127.0.0.1", port=0, extra=json.dumps(connection_extra(pki)))
    service = service_from_connections(hub, hub.registry.partner("cjib"))
    server = Server(service, "127.0.0.1", 0).start()
    client = CjibClient(f"https://127.0.0.1:{server.port}{PATH}", pki)
    try:
        yield service, client
    finally:
        client.http.close()
        server.stop()


def kbsp_v2_cjib() -> Destination:
    return Destination(
        destination="kbsp_v2", name="KbSP v2 (CJIB rows)", oin="00000099000000040000", schema="kbsp/zaakstatus-v2.xsd",
        mapping="canonical-to-kbsp-v2.xsl", events=("Tenuitvoeringgebeurtenis",), item=f"{{{KBSP_V2}}}Zaakstatus",
        key="string(d:BerichtId)", recipient="string(d:Slachtoffer/d:Ketenreferentie)",
        envelope={"kind": "wrap", "root": f"{{{KBSP_V2}}}PubliceerZaakstatusVerzoek", "max_items": 500,
                  "name": "KETENHUB_KBSP_V2"},
        folder="outbox/kbsp_v2")
