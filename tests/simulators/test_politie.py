"""The Politie simulator answers as a service on a real server would: at once."""
import time

from lxml import etree

from ketenhub.protocols.soap import SoapClient
from ketenhub.settings import PROJECT_DIR
from ketenhub.simulators.politie import NS, PolitieSimulator


def test_small_answers_on_a_kept_alive_connection_wait_for_nothing():
    """With Nagle's algorithm on, the body of an answer written after its headers waited for the
    client's delayed ACK of them: about 40 ms a call, whatever the call."""
    sim = PolitieSimulator().start()
    try:
        client = SoapClient(str(PROJECT_DIR / "schemas/politie/MeldingenService-v1.wsdl"), sim.address, sim.oin,
                            tls=sim.client_tls())
        request = etree.Element(f"{{{NS}}}HaalMeldingenVerzoek")
        etree.SubElement(request, f"{{{NS}}}VanafVolgnummer").text = "0"
        etree.SubElement(request, f"{{{NS}}}MaxAantal").text = "10"
        client.call("HaalMeldingen", request)  # the connection made
        started = time.perf_counter()
        for _ in range(10):  # none waiting: a small answer each
            client.call("HaalMeldingen", request)
        assert time.perf_counter() - started < 0.35  # ten delayed ACKs would be 0.4 s at least
        assert sim.server.connections == 1
    finally:
        sim.stop()
