"""CJIB pushes to the hub's own service (ketenhub serve) over two-way TLS on loopback: every
reason to refuse a whole call, every result code, the signed answer with its
SignatureConfirmation, the contract's must-refuse examples, and a store that is down."""
from contextlib import closing
from pathlib import Path

import pytest
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from sqlalchemy import create_engine, select

from ketenhub import serve, wiring
from ketenhub.protocols import wssecurity
from ketenhub.settings import HUB_OIN, PROJECT_DIR
from ketenhub.simulators.cjib_push import ACTION, MISBEHAVIOURS, OM_OIN, CjibClient, Fault, event, events, request
from ketenhub.store.tables import audit, event as event_table, payload, quarantine
from tests.support.cjib import serving
from tests.support.store import count

EXAMPLES = PROJECT_DIR / "schemas" / "cjib" / "examples"
NS = "urn:keten:cjib:slachtofferinformatie:v1"


@pytest.fixture
def cjib(hub, connection):
    with serving(hub, connection) as (service, client):
        yield client



def stored(hub) -> set[str]:
    with hub.engine.connect() as conn:
        return set(conn.scalars(select(event_table.c.bericht_id).where(event_table.c.partner == "cjib")))


def test_valid_events_are_answered_ontvangen_once_committed(hub, cjib):
    answer = cjib.call((EXAMPLES / "valid-01-vonnis-vrijlating-verlof.xml").read_bytes())
    assert answer.results == [("CJIB-SI-2027-000101", "ONTVANGEN", None), ("CJIB-SI-2027-000102", "ONTVANGEN", None),
                              ("CJIB-SI-2027-000103", "ONTVANGEN", None)]
    assert stored(hub) == {"CJIB-SI-2027-000101", "CJIB-SI-2027-000102", "CJIB-SI-2027-000103"}


def test_the_answer_is_signed_by_the_hub_and_confirms_the_requests_signature(hub, cjib):
    answer = cjib.call(request(events(2)))
    sent = etree.fromstring(answer.request)
    got = answer.message.root
    # Checked here with signxml itself, apart from the hub's own verify().
    hub_cert = answer.message.signer
    results = XMLVerifier().verify(got, x509_cert=hub_cert, expect_config=SignatureConfiguration(
        expect_references=True))
    references = set(got.xpath("//ds:SignedInfo/ds:Reference/@URI", namespaces=wssecurity.NS))
    assert len(results) == len(references) == 8  # Body, Timestamp, 5 addressing headers, SignatureConfirmation
    ids = {"#" + el.get(wssecurity.WSU_ID) for el in wssecurity.signed_parts(got)}
    assert ids <= references and "#id-signatureconfirmation" in references and "#id-relatesto" in references
    assert wssecurity.oin_of(hub_cert) == HUB_OIN
    ns = wssecurity.NS
    assert got.findtext("soap:Header/wsa:Action", namespaces=ns) == ACTION + "Response"
    assert got.findtext("soap:Header/wsa:RelatesTo", namespaces=ns) == sent.findtext("soap:Header/wsa:MessageID",
                                                                                     namespaces=ns)
    assert got.findtext("soap:Header/wsa:MessageID", namespaces=ns) != sent.findtext("soap:Header/wsa:MessageID",
                                                                                     namespaces=ns)
    confirmation = got.find("soap:Header/wsse:Security/wsse11:SignatureConfirmation", namespaces=ns).get("Value")
    assert confirmation == "".join(sent.findtext(".//ds:SignatureValue", namespaces=ns).split())


def test_duplicaat_for_a_bericht_id_answered_ontvangen_in_any_call(hub, cjib):
    first = cjib.call(request([event("CJIB-T-1"), event("CJIB-T-2")]))
    assert [c for _, c, _ in first.results] == ["ONTVANGEN", "ONTVANGEN"]
    again = cjib.call(request([event("CJIB-T-2"), event("CJIB-T-3"), event("CJIB-T-3")]))
    assert [c for _, c, _ in again.results] == ["DUPLICAAT", "ONTVANGEN", "DUPLICAAT"]
    replayed = cjib.replay(first)  # the very same call again
    assert [c for _, c, _ in replayed.results] == ["DUPLICAAT", "DUPLICAAT"]
    assert stored(hub) == {"CJIB-T-1", "CJIB-T-2", "CJIB-T-3"}


BSN_FAILING_ELFPROEF = "123456789"
INFORMED = ("<Slachtoffer><Bsn>628194821</Bsn><Naam>A. de Vries</Naam><Informatiewens>true</Informatiewens>{}"
            "</Slachtoffer>")
VOORWAARDEN = ("<Voorwaarden><Voorwaarde><Soort>CONTACTVERBOD</Soort><Omschrijving>Geen contact.</Omschrijving>"
               "</Voorwaarde><Voorwaarde><Soort>GEBIEDSVERBOD</Soort><Omschrijving>{}</Omschrijving>"
               "<Gebied>{}</Gebied></Voorwaarde></Voorwaarden>")


def test_each_event_is_judged_on_its_own_with_a_reason_in_plain_words(hub, cjib):
    answer = cjib.call(request([
        event("OK-1"),
        event("POSTCODE-OMSCHRIJVING", "VERLOF", extra=VOORWAARDEN.format("Verblijft op 1234AB.", "Deventer")),
        event("POSTCODE-GEBIED", "INVRIJHEIDSTELLING", extra=VOORWAARDEN.format("Niet in het gebied.", "rond 7411 XZ")),
        event("ELFPROEF", victims=f"<Slachtoffer><Bsn>{BSN_FAILING_ELFPROEF}</Bsn><Naam>X</Naam>"
                                  "<Informatiewens>true</Informatiewens></Slachtoffer>"),
        event("MAATREGEL-ZONDER-VOORWAARDEN", "BESCHERMINGSMAATREGEL_OPGELEGD"),
        event("BETALING-ZONDER-BETALING", "SCHADEVERGOEDING_BETALING"),
        event("VOORSCHOT-ZONDER-VOORSCHOT", "VOORSCHOT_UITGEKEERD"),
        event("SCHEMA", victims="<Slachtoffer><Bsn>628194821</Bsn><Naam>A</Naam></Slachtoffer>"),
        event("OK-2", "VOORSCHOT_UITGEKEERD", victims=INFORMED.format("<Voorschot><Bedrag>10.00</Bedrag></Voorschot>")),
    ]))
    codes = {b: (c, r) for b, c, r in answer.results}
    assert [b for b, _, _ in answer.results][0] == "OK-1" and len(answer.results) == 9  # the request's order
    assert codes["OK-1"] == ("ONTVANGEN", None) and codes["OK-2"] == ("ONTVANGEN", None)
    assert "Voorwaarde 2 (GEBIEDSVERBOD): its Omschrijving holds what looks like a postcode" in \
        codes["POSTCODE-OMSCHRIJVING"][1]
    assert "Voorwaarde 2 (GEBIEDSVERBOD): its Gebied holds what looks like a postcode" in codes["POSTCODE-GEBIED"][1]
    assert "elfproef" in codes["ELFPROEF"][1]
    assert "must have Voorwaarden" in codes["MAATREGEL-ZONDER-VOORWAARDEN"][1]
    assert "must have a Betaling in at least one Slachtoffer" in codes["BETALING-ZONDER-BETALING"][1]
    assert "must have a Voorschot in at least one Slachtoffer" in codes["VOORSCHOT-ZONDER-VOORSCHOT"][1]
    assert "a required element is missing: Informatiewens" in codes["SCHEMA"][1]
    refused = {b for b, (c, _) in codes.items() if c == "AFGEWEZEN"}
    assert len(refused) == 7
    for reason in (r for c, r in codes.values() if r):
        assert "1234AB" not in reason and "7411 XZ" not in reason and BSN_FAILING_ELFPROEF not in reason
    assert stored(hub) == {"OK-1", "OK-2"}
    assert count(hub, quarantine, quarantine.c.partner == "cjib") == 7  # kept for the audit trail, not routed


def test_an_event_whose_bericht_id_the_contract_refuses_is_answered_with_its_reason(hub, cjib):
    """Stored without a BerichtId (it may be anything), it is still answered in its place, with
    its reason, also when the same call comes again."""
    call = request([event("CJIB-N-1"), event("CJIB-N-2<Naam>Jansen</Naam>"),
                    event("CJIB-N-3", "BESCHERMINGSMAATREGEL_OPGELEGD")])
    for _ in range(2):
        results = cjib.call(call).results
        assert [c for _, c, _ in results][1] == "AFGEWEZEN"
        assert "Slachtofferinformatie/BerichtId: " in results[1][2], results
        assert "must have Voorwaarden" in results[2][2] and "Jansen" not in results[1][2]


def test_each_refused_event_is_answered_with_its_own_reason_whatever_its_bericht_id(hub, cjib):
    """Reasons are found by the event's line: one not named (words for a BerichtId), one refused
    but answered DUPLICAAT, and one whose BerichtId holds a comment each keep their own."""
    assert cjib.call(request([event("CJIB-L-1")])).results[0][1] == "ONTVANGEN"
    call = request([event("CJIB-L-1", "BESCHERMINGSMAATREGEL_OPGELEGD"),  # refused, and a DUPLICAAT
                    event("woorden als id", "SCHADEVERGOEDING_BETALING"),  # not named: not an identifier
                    event("CJIB-L-<!-- x -->3", "VOORSCHOT_UITGEKEERD"),
                    event("CJIB-L-4")])
    results = cjib.call(call).results
    assert [(b, c) for b, c, _ in results] == [("CJIB-L-1", "DUPLICAAT"), ("woorden als id", "AFGEWEZEN"),
                                               ("CJIB-L-3", "AFGEWEZEN"), ("CJIB-L-4", "ONTVANGEN")]
    assert "must have a Betaling" in results[1][2] and "must have a Voorschot" in results[2][2]
    assert [(b, c) for b, c, _ in cjib.call(call).results][1:] == [("woorden als id", "AFGEWEZEN"),
                                                                  ("CJIB-L-3", "AFGEWEZEN"), ("CJIB-L-4", "DUPLICAAT")]


def test_a_refused_event_may_come_again_corrected_under_the_same_bericht_id(hub, cjib):
    wrong = event("CJIB-R-1", "VERLOF", extra=VOORWAARDEN.format("Niet in de straat.", "Stationsweg 8, 7201 DN"))
    right = event("CJIB-R-1", "VERLOF", extra=VOORWAARDEN.format("Niet in de straat.", "de gemeente Zutphen"))
    assert cjib.call(request([wrong])).results[0][1] == "AFGEWEZEN"
    assert cjib.call(request([wrong])).results[0][1] == "AFGEWEZEN"  # not a DUPLICAAT: it was never ONTVANGEN
    assert cjib.call(request([right])).results[0][1] == "ONTVANGEN"
    assert cjib.call(request([right])).results[0][1] == "DUPLICAAT"
    assert stored(hub) == {"CJIB-R-1"}


def test_the_contracts_must_refuse_and_invalid_examples_are_afgewezen(hub, cjib):
    [(bericht_id, code, reason)] = cjib.call((EXAMPLES / "afgewezen-01-postcode-in-voorwaarde.xml").read_bytes()).results
    assert (bericht_id, code) == ("CJIB-SI-2027-000107", "AFGEWEZEN")
    assert "Voorwaarde 1 (GEBIEDSVERBOD): its Gebied holds what looks like a postcode" in reason and "7201" not in reason
    for name, rule in (("invalid-01-parketnummer.xml", "Parketnummer"), ("invalid-02-zonder-informatiewens.xml",
                                                                            "Informatiewens")):
        [(_, code, reason)] = cjib.call((EXAMPLES / name).read_bytes()).results
        assert code == "AFGEWEZEN" and rule in reason
    assert stored(hub) == set()


def assert_refused_and_nothing_stored(hub, fault: Fault, reason: str):
    assert fault.code == "soap:Client" and fault.status == 500 and reason in fault.reason
    assert count(hub, payload) == 0 and count(hub, event_table) == 0 and count(hub, quarantine) == 0
    with hub.engine.connect() as conn:
        details = list(conn.scalars(select(audit.c.detail).where(audit.c.subject == "call",
                                                                 audit.c.action == "refused")))
    assert len(details) == 1 and reason in details[0]


REASONS = {
    "bad-signature": "the signature does not verify",
    "signature-over-too-little": "the signature does not cover To",
    "unsigned": "the message is not signed",
    "other-oin-certificate": "the signing certificate carries another OIN (00000099000000040000)",
    "other-oin-tls": "differs from the OIN of the TLS client certificate (00000099000000040000)",
    "stale-timestamp": "Created lies more than 5 minutes in the past",
    "future-timestamp": "Created lies more than 5 minutes in the future",
    "expired": "Expires has passed",
    "no-timestamp": "no wsu:Timestamp",
    "wrong-to": "wsa:To does not carry the hub's OIN",
    "wrong-action": "wsa:Action is not",
    "wrong-from": "the OIN in wsa:From (00000099000000020000) differs from the OIN of the TLS client certificate",
}


@pytest.mark.parametrize("misbehaviour", MISBEHAVIOURS)
def test_a_call_that_breaks_the_profile_is_refused_whole_and_recorded(hub, cjib, misbehaviour):
    with pytest.raises(Fault) as refused:
        cjib.call(request(events(2)), misbehaviour)
    assert_refused_and_nothing_stored(hub, refused.value, REASONS[misbehaviour])


def test_another_organisation_signing_as_itself_is_refused(hub, cjib):
    om = CjibClient(cjib.url, cjib.pki, oin=OM_OIN)  # TLS, signature and wsa:From all the OM's
    with pytest.raises(Fault) as refused, closing(om.http):  # an open connection holds up the service's stop
        om.call(request(events(1)))
    assert_refused_and_nothing_stored(hub, refused.value, "is not CJIB's (00000099000000030000)")


@pytest.mark.parametrize("body, reason", [
    (request([]), "the body holds 0 Slachtofferinformatie elements; a call holds 1 to 100"),
    (request(events(101)), "the body holds 101 Slachtofferinformatie elements"),
    (b'<Anders xmlns="urn:keten:cjib:slachtofferinformatie:v1"/>', "must hold one LeverSlachtofferinformatieVerzoek"),
])
def test_a_body_without_1_to_100_events_is_refused_whole(hub, cjib, body, reason):
    with pytest.raises(Fault) as refused:
        cjib.call(body)
    assert_refused_and_nothing_stored(hub, refused.value, reason)


def test_a_message_that_is_not_well_formed_is_refused(hub, cjib):
    data = cjib.envelope(request(events(1)))
    with pytest.raises(Fault) as refused:
        cjib.answer(data, *cjib.send(data[:-40]))
    assert_refused_and_nothing_stored(hub, refused.value, "not well-formed")


def test_a_hundred_events_in_one_call(hub, cjib):
    answer = cjib.call(request(events(100)))
    assert [c for _, c, _ in answer.results] == ["ONTVANGEN"] * 100 and len(stored(hub)) == 100


def test_a_client_without_a_certificate_of_the_ca_gets_no_tls_connection(hub, cjib, tmp_path):
    import requests
    with pytest.raises(requests.exceptions.ConnectionError):  # TLS 1.3 may refuse after the handshake: no answer
        requests.post(cjib.url, data=cjib.envelope(request(events(1))), verify=str(cjib.pki.ca_file), timeout=10)
    assert count(hub, payload) == 0


def test_with_its_store_down_the_hub_answers_503_and_the_call_comes_again(hub, cjib, monkeypatch):
    healthy = hub.engine
    monkeypatch.setattr(hub, "engine", create_engine("postgresql+psycopg2://nobody@127.0.0.1:9/none",
                                                     connect_args={"connect_timeout": 2}))
    body = request([event("CJIB-D-1")])
    with pytest.raises(Fault) as unavailable:
        cjib.call(body)
    assert unavailable.value.status == 503 and unavailable.value.code == "soap:Server"
    monkeypatch.setattr(hub, "engine", healthy)
    assert count(hub, event_table) == 0
    assert cjib.call(body).results == [("CJIB-D-1", "ONTVANGEN", None)]


def test_a_call_the_store_failed_on_midway_is_taken_up_by_the_receiving_dag(hub, cjib, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def store_fails(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("the database went away"))
    real = serve.ingest
    monkeypatch.setattr(serve, "ingest", store_fails)
    body = request([event("CJIB-S-1"), event("CJIB-S-2")])
    with pytest.raises(Fault) as unavailable:
        cjib.call(body)
    assert unavailable.value.status == 503
    monkeypatch.setattr(serve, "ingest", real)
    spool = hub.settings.path(hub.registry.partner("cjib").receive.folder)
    assert len(list(Path(spool).glob("*.xml"))) == 1
    [report] = wiring.receive(hub, hub.registry.partner("cjib"), embedded=False)  # the DAG's task
    assert report.accepted == 2 and list(Path(spool).iterdir()) == []
    assert [c for _, c, _ in cjib.call(body).results] == ["DUPLICAAT", "DUPLICAAT"]  # CJIB's resend


@pytest.mark.parametrize("algorithms, reason", [
    ((SignatureMethod.RSA_SHA512, DigestAlgorithm.SHA256, wssecurity.EXC_C14N), "the signature cannot be checked"),
    ((SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA512, wssecurity.EXC_C14N), "the signature cannot be checked"),
    ((SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
     "exclusive canonicalisation"),
])
def test_only_rsa_sha256_sha256_digests_and_exclusive_c14n_are_taken(hub, cjib, algorithms, reason):
    root = wssecurity.envelope(etree.fromstring(request(events(1))), ACTION, to=f"{cjib.url}?OIN={HUB_OIN}",
                               sender="https://cjib.example/si?OIN=00000099000000030000")
    data = wssecurity.sign(root, cjib._credentials(cjib.oin), algorithms=algorithms)
    with pytest.raises(Fault) as refused:
        cjib.answer(data, *cjib.send(data))
    assert_refused_and_nothing_stored(hub, refused.value, reason)


def test_an_unreachable_airflow_holds_up_no_answer(hub, connection):
    connection("airflow_api", "http", host="http://127.0.0.1:9", login="operator", password="not-used")
    with serving(hub, connection) as (service, cjib):
        assert cjib.call(request([event("CJIB-U-1")])).results == [("CJIB-U-1", "ONTVANGEN", None)]
        assert service.trigger.fired == 1  # the run is asked for; the DAG's schedule takes over when it fails


def test_a_message_with_a_dtd_is_refused_without_resolving_it(hub, cjib):
    data = cjib.envelope(request(events(1)))
    hostile = data.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', 1)
    with pytest.raises(Fault) as refused:
        cjib.answer(hostile, *cjib.send(hostile))
    assert_refused_and_nothing_stored(hub, refused.value, "declares a DTD")


def test_a_message_larger_than_the_partners_limit_is_refused_unread(hub, cjib):
    most = hub.registry.partner("cjib").limits.payload_bytes
    status, content = cjib.send(b"<x>" + b" " * (most + 1) + b"</x>")
    assert status == 413 and f"larger than {most} bytes".encode() in content
    assert count(hub, payload) == 0


def test_a_soapaction_header_unlike_wsa_action_is_refused(hub, cjib):
    data = cjib.envelope(request(events(1)))
    cert, key = cjib.pki.client(cjib.oin)
    answer = cjib.http.post(cjib.url, data=data, cert=(str(cert), str(key)), verify=str(cjib.pki.ca_file),
                            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:iets:anders"'},
                            timeout=30)
    with pytest.raises(Fault) as refused:
        cjib.answer(data, answer.status_code, answer.content)
    assert_refused_and_nothing_stored(hub, refused.value, "the SOAPAction header differs from wsa:Action")


def test_an_event_refused_for_a_fault_of_the_hubs_own_is_answered_without_its_details():
    """A key a destination mapping gave another event too: CJIB is told it need not send the
    event again, not which other partner's message holds the key or how the mapping is mended."""
    from ketenhub.serve import _reden
    from ketenhub.store.inbound import KeyTaken

    reden = _reden(KeyTaken.reason("kbsp", "OM-1001 (om)"))
    assert "no need to send it again" in reden and "OM-1001" not in reden and "mapping" not in reden
    assert _reden("line 3, element /a/b: a required element is missing (rule: schema)") == \
        "element /a/b: a required element is missing (rule: schema)"
