"""Two-way TLS between the hub and the SOAP/HTTP simulators on loopback (issue 23, item 14): the
hub refuses a server it cannot trust, the simulators refuse a hub without the right client
certificate, plain HTTP only where the Connection allows it, and the demo's Connections work."""
import json
import stat
import threading

import pytest
import requests
from sqlalchemy import select

from ketenhub import operations as ops, peertext, wiring
from ketenhub.wiring import deliver
from ketenhub.protocols.errors import RequestException
from ketenhub.protocols.http import HttpClient, PlainHttpRefused, Tls, TlsRefused
from ketenhub.protocols.session import NoRedirectSession
from ketenhub.protocols.soap import CallNotMade, SoapClient
from ketenhub.settings import HUB_OIN
from ketenhub.simulators.dlv import DlvSimulator
from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.simulators.politie import PolitieSimulator
from ketenhub.simulators.tls import Pki, default_pki
from ketenhub.store.tables import delivery
from tests.conftest import DATA, ingest
from tests.support.factories import om_batch, om_event, write_with_marker

CONTROL = "/_sim"


@pytest.fixture
def dlv(tmp_path):
    sim = DlvSimulator(store=tmp_path / "dlv").start()
    yield sim
    sim.stop()


@pytest.fixture
def other_ca(tmp_path):
    return Pki(tmp_path / "other-ca", name="Someone else's CA")


def call(tls: Tls, sim) -> int:
    return HttpClient(timeout=5, deadline=10, tls=tls).post(sim.url + CONTROL, b"{}", {}, "DLV").status


def ingest_cvom(hub, sample):
    for f in sorted((DATA / "cvom").glob("*.xml")):
        ingest(hub, "cvom", sample(f"cvom/{f.name}"))


def errors(hub, name):
    with hub.engine.connect() as conn:
        return conn.execute(select(delivery.c.state, delivery.c.last_error)
                            .where(delivery.c.destination == name)).all()


# -- the hub checks the server ----------------------------------------------------------------
def test_the_simulator_serves_tls_and_keeps_one_connection_for_many_calls(dlv):
    client = HttpClient(timeout=5, deadline=10, tls=dlv.client_tls())
    assert dlv.url.startswith("https://")
    assert all(client.post(dlv.url + CONTROL, b"{}", {}, "DLV").status == 200 for _ in range(20))
    assert dlv.server.connections == 1  # one handshake, kept alive


def test_a_server_certificate_from_another_ca_is_refused(hub, connection, sample, tmp_path, other_ca):
    impostor = DlvSimulator(store=tmp_path / "impostor", pki=other_ca).start()
    try:
        with pytest.raises(TlsRefused, match="the server's certificate was refused: .*certificate"):
            call(dlv_tls := impostor.client_tls(ca_pem=default_pki().ca_pem), impostor)
        # The same through the Connection and a delivery run: nothing reaches the impostor.
        connection("dlv", "http", host=impostor.url, extra=default_pki().connection_extra())
        ingest_cvom(hub, sample)
        report = deliver(hub, hub.registry.destination("dlv"))
        assert report.delivered == 0 and impostor.calls == 0 and not impostor.accepted
        # Failed, for an operator: waiting mends no certificate. Its name is the hub's words, shown to all.
        assert {state for state, _ in errors(hub, "dlv")} == {"failed"}
        (error,) = {error for _, error in errors(hub, "dlv")}
        assert error.startswith("DLV: TlsRefused: the server's certificate was refused: ")
        assert peertext.split(error, "DLV")[0] == "DLV: TlsRefused"
    finally:
        impostor.stop()
    assert dlv_tls.ca_pem != other_ca.ca_pem


@pytest.mark.usefixtures("before_kbsp_switch")
def test_a_soap_service_with_an_unknown_certificate_is_refused(hub, connection, tmp_path, other_ca, no_wait):
    impostor = KbspSimulator(store=tmp_path / "impostor", pki=other_ca).start()
    try:
        client = SoapClient(str(hub.settings.schemas_dir / "kbsp/SlachtofferInformatieService-v1.wsdl"),
                            impostor.address, impostor.oin, timeout=5, deadline=10,
                            tls=impostor.client_tls(ca_pem=default_pki().ca_pem))
        from lxml import etree
        with pytest.raises(CallNotMade, match="PubliceerZaakstatus: the server's certificate was refused") as e:
            client.call("PubliceerZaakstatus", etree.Element("{urn:keten:kbsp:zaakstatus:v1}PubliceerZaakstatusVerzoek"))
        assert isinstance(e.value.__cause__, TlsRefused)
        # A delivery run: failed at once, for an operator to mend the Connection and replay, as over HTTP.
        connection("kbsp", **impostor.connection(ca_pem=default_pki().ca_pem))
        ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                                            om_batch([om_event(i) for i in range(3)])))
        report = deliver(hub, hub.registry.destination("kbsp"))
        assert report.delivered == report.retry == 0 and report.failed > 0
        assert impostor.calls == 0 and not impostor.accepted
        assert {state for state, _ in errors(hub, "kbsp")} == {"failed"}
        (error,) = {error for _, error in errors(hub, "kbsp")}
        assert error.startswith("KbSP: TlsRefused: PubliceerZaakstatus: the server's certificate was refused: ")
        assert peertext.split(error, "KbSP")[0] == "KbSP: TlsRefused"
    finally:
        impostor.stop()


def test_https_without_a_ca_bundle_trusts_the_system_cas_only_and_cannot_be_weakened(dlv, monkeypatch):
    tls = dlv.client_tls(ca_pem=None)  # the client certificate, but no CA: the system's CAs
    with pytest.raises(TlsRefused, match="certificate was refused"):
        call(tls, dlv)
    # Neither a caller's verify=False nor a CA bundle from the environment changes what is trusted.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(dlv.pki.ca_file))
    with pytest.raises(requests.exceptions.SSLError):
        NoRedirectSession(tls).post(dlv.url + CONTROL, data=b"{}", verify=False)
    with pytest.raises(requests.exceptions.SSLError):
        NoRedirectSession(tls).post(dlv.url + CONTROL, data=b"{}", verify=str(dlv.pki.ca_file))
    assert dlv.calls == 0


def test_the_server_certificate_must_name_the_peers_oin(hub, connection, sample, dlv, no_wait):
    """The OIN in the server certificate's subject serialNumber is the adapter's, unless the
    Connection names another (a service hosted by someone else) or none."""
    assert call(dlv.client_tls(), dlv) == 200  # the simulator's certificate carries DLV's OIN
    with pytest.raises(TlsRefused, match="names OIN 00000099000000031000, not the expected 00000099000000040000"):
        call(dlv.client_tls(server_oin="00000099000000040000"), dlv)
    ingest_cvom(hub, sample)
    connection("dlv", **dlv.connection(server_oin="00000099000000040000"))
    assert deliver(hub, hub.registry.destination("dlv")).delivered == 0 and not dlv.accepted
    connection("dlv", **dlv.connection(server_oin=False))
    assert wiring.transport(hub, hub.registry.destination("dlv")).http.tls.server_oin is None
    connection("dlv", **dlv.connection())
    assert ops.replay(hub, ops.Filter(destination="dlv"), "tester", "the Connection names DLV's OIN") > 0
    assert deliver(hub, hub.registry.destination("dlv")).delivered == len(dlv.accepted) > 0


# -- the simulator checks the hub -------------------------------------------------------------
def test_a_missing_client_certificate_is_refused_by_the_simulator(dlv):
    with pytest.raises(TlsRefused, match="the server refused the TLS handshake"):
        call(dlv.client_tls(cert_pem=None, key_pem=None), dlv)
    with pytest.raises(requests.exceptions.RequestException):  # any client, not only the hub's
        requests.post(dlv.url + CONTROL, data=b"{}", verify=str(dlv.pki.ca_file), timeout=5)
    assert dlv.calls == 0 and dlv.server.connections == 0


def test_a_client_certificate_from_another_ca_is_refused_by_the_simulator(dlv, other_ca):
    extra = other_ca.connection_extra()
    with pytest.raises(TlsRefused, match="the server refused the TLS handshake"):
        call(dlv.client_tls(cert_pem=extra["cert_pem"], key_pem=extra["key_pem"]), dlv)
    assert dlv.calls == 0 and dlv.server.connections == 0


def test_the_client_certificate_carries_the_hubs_oin(dlv):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    cert = x509.load_pem_x509_certificate(dlv.client_tls().cert_pem.encode())
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == HUB_OIN


# -- plain HTTP -------------------------------------------------------------------------------
def test_plain_http_is_refused_unless_the_connection_says_so(hub, connection, sample, tmp_path, no_wait):
    plain = DlvSimulator(store=tmp_path / "plain", plain=True).start()
    politie = PolitieSimulator(plain=True).start()
    try:
        assert plain.url.startswith("http://")
        with pytest.raises(PlainHttpRefused, match=r"plain HTTP to http://127\.0\.0\.1:\d+ refused"):
            call(Tls(), plain)
        ingest_cvom(hub, sample)
        connection("dlv", "http", host=plain.url)  # no word about plain HTTP
        assert deliver(hub, hub.registry.destination("dlv")).delivered == 0 and plain.calls == 0
        assert {(state, error.split(": plain HTTP")[0]) for state, error in errors(hub, "dlv")} == {
            ("failed", "DLV: PlainHttpRefused")}
        connection("politie", "http", host=politie.address)
        politie.add(2)
        with pytest.raises(CallNotMade, match="plain HTTP to .* refused: use https"):  # not asked again: no wait mends it
            wiring.receive(hub, hub.registry.partner("politie"))
        assert politie.calls == 0
        # Said explicitly in the Connection: allowed.
        connection("dlv", "http", host=plain.url, extra={"insecure_plain_http": True})
        assert ops.replay(hub, ops.Filter(destination="dlv"), "tester", "the Connection allows plain HTTP") > 0
        assert deliver(hub, hub.registry.destination("dlv")).delivered == len(plain.accepted) > 0
    finally:
        plain.stop()
        politie.stop()


def test_a_connection_without_a_scheme_means_https(dlv):
    from ketenhub.connections import Endpoint
    host, port = dlv.server.server_address[:2]
    assert Endpoint("http", host, port).base_url == f"https://{host}:{port}"


# -- the test CA and the demo -----------------------------------------------------------------
def test_the_test_ca_is_made_once_with_private_files(tmp_path):
    first = Pki(tmp_path / "tls")
    first.client()
    first.server_context("00000099000000040000")
    again = Pki(tmp_path / "tls")
    assert again.ca_pem == first.ca_pem
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    keys = sorted((tmp_path / "tls").glob("*.key"))
    assert len(keys) == 3 and {stat.S_IMODE(k.stat().st_mode) for k in keys} == {0o600}


def test_the_demos_connections_reach_its_simulators_over_tls(hub, connection, sample, tmp_path):
    """What `ketenhub simulate` writes and `./hub start` imports: https addresses with the test
    CA and the hub's client certificate, in a file only its owner reads."""
    from ketenhub.simulators import demo
    from tests.conftest import ingest

    workdir = tmp_path / "simulators"
    sims = demo.run(workdir, tmp_path / "cvom-drop", ports={name: 0 for name in demo.PORTS}, stop=threading.Event())
    try:
        path = workdir / "connections.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((workdir / "tls").stat().st_mode) == 0o700
        connections = json.loads(path.read_text())
        for name in ("politie", "kbsp", "dlv", "shn"):
            c = connections[f"ketenhub_{name}"]
            assert c["host"].startswith("https://127.0.0.1:")
            assert {"ca_pem", "cert_pem", "key_pem"} <= set(json.loads(c["extra"]))
            connection(name, **c)
        connection("kbsp_v2", **connections["ketenhub_kbsp_v2"])  # SHN's statuses go through v2
        wiring.receive(hub, hub.registry.partner("politie"))
        # The demo victim's melding and 25 more.
        assert sims["politie"].state()["waiting"] == 0 and sims["politie"].confirmed == 26
        assert sum(r.accepted for r in wiring.receive(hub, hub.registry.partner("shn"))) == 15  # OAuth2 over TLS
        ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
        ingest_cvom(hub, sample)
        assert deliver(hub, hub.registry.destination("kbsp")).delivered == len(sims["kbsp"].accepted) > 0
        assert deliver(hub, hub.registry.destination("dlv")).delivered == len(sims["dlv"].accepted) > 0
    finally:
        for name, sim in sims.items():
            if hasattr(sim, "stop"):
                sim.stop()


def test_through_a_proxy_the_same_two_way_tls(dlv, monkeypatch):
    """An HTTPS_PROXY from the environment tunnels the call; the Connection's CA and client
    certificate still apply end to end."""
    import select as selector
    import socket
    import socketserver

    tunnels = []

    class Connect(socketserver.StreamRequestHandler):
        def handle(self):
            target = self.rfile.readline().split()[1].decode()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            tunnels.append(target)
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            sockets = [self.connection, upstream]
            while True:
                for s in selector.select(sockets, [], [], 5)[0]:
                    try:
                        data = s.recv(65536)
                    except OSError:  # the simulator refused the handshake
                        return upstream.close()
                    if not data:
                        return upstream.close()
                    (upstream if s is self.connection else self.connection).sendall(data)

    proxy = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Connect)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        assert call(dlv.client_tls(), dlv) == 200
        assert tunnels == [f"127.0.0.1:{dlv.server.server_address[1]}"]
        with pytest.raises(RequestException):  # how it ends depends on the tunnel's timing
            call(dlv.client_tls(cert_pem=None, key_pem=None), dlv)
        assert dlv.server.connections == 1  # the second handshake was refused
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_wsdl_is_never_fetched(tmp_path):
    """The SOAPActions come from the contract's WSDL file; a WSDL's address is refused, with or
    without the Connection's TLS, and nothing is asked of the service."""
    kbsp = KbspSimulator(store=tmp_path / "kbsp").start()
    try:
        for tls in (None, kbsp.client_tls()):
            with pytest.raises(ValueError, match="never fetched"):
                SoapClient(kbsp.address + "?wsdl", kbsp.address, kbsp.oin, tls=tls)
        assert kbsp.server.connections == 0
    finally:
        kbsp.stop()
