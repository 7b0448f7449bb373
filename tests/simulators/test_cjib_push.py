"""The demo's CJIB: `ketenhub simulate` writes the Connection of the hub's service, and its
client pushes the contract's examples to a service started from that Connection."""
import json
import threading

from sqlalchemy import select

from ketenhub.serve import Server, service_from_connections
from ketenhub.simulators import cjib_push, demo
from ketenhub.simulators.tls import Pki
from ketenhub.store.tables import event


def test_the_demo_pushes_the_contracts_examples_to_the_service_its_connection_describes(hub, connection, tmp_path):
    workdir = tmp_path / "simulators"
    sims = demo.run(workdir, tmp_path / "cvom-drop", ports={name: 0 for name in demo.PORTS}, stop=threading.Event())
    try:
        serve = json.loads((workdir / "connections.json").read_text())["ketenhub_serve"]
        connection("serve", **serve)
        server = Server(service_from_connections(hub, hub.registry.partner("cjib")), "127.0.0.1", 0).start()
        try:
            client = cjib_push.CjibClient(f"https://localhost:{server.port}{cjib_push.PATH}", Pki(workdir / "tls"))
            cjib_push.demo(client, 1)
            client.http.close()
        finally:
            server.stop()
    finally:
        for sim in sims.values():
            if hasattr(sim, "stop"):
                sim.stop()
    with hub.engine.connect() as conn:
        stored = set(conn.scalars(select(event.c.bericht_id).where(event.c.partner == "cjib")))
    assert stored == {f"CJIB-SI-2027-00010{n}" for n in range(1, 7)}  # the valid examples; the refused one not
