"""Receive transports by name, as destinations' are: each configured from its adapter's receive:
section, a setting it does not take named in the error."""
from dataclasses import replace

import pytest

from ketenhub import wiring
from ketenhub.receive import kinds


def test_every_kind_names_a_function_that_makes_a_source():
    for name in kinds.KINDS:
        assert callable(kinds.kind(name))


def test_an_unknown_transport_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown receive transport 'ftp'; known: folder, rest-json, sftp, soap"):
        kinds.kind("ftp")


def test_a_setting_the_transport_does_not_take_is_named(hub, connection):
    politie = hub.registry.partner("politie")
    hub.registry.partners["politie"] = replace(politie, receive=replace(politie.receive, options={"feed": "/x"}))
    connection("politie", "http", host="https://127.0.0.1:9")
    with pytest.raises(ValueError, match="politie: receive: feed not known to transport soap"):
        wiring.receive(hub, hub.registry.partner("politie"))


def test_a_rest_partner_without_a_client_secret_is_refused_before_any_call(hub, connection):
    connection("shn", "http", host="https://127.0.0.1:9")
    with pytest.raises(Exception, match="has no password: the client secret"):
        wiring.receive(hub, hub.registry.partner("shn"))


def test_without_a_connection_a_rest_partner_reads_its_drop_folder(hub):
    folder = hub.settings.path("inbox/shn")
    folder.mkdir(parents=True)
    (folder / "pagina.json").write_text('{"gebeurtenissen": [], "volgende": "c", "meerBeschikbaar": false}')
    (report,) = wiring.receive(hub, hub.registry.partner("shn"))
    assert report.state == "accepted" and (folder / "processed" / "pagina.json").exists()


@pytest.mark.parametrize("name, transport", [("cvom", "folder"), ("om", "sftp")])
def test_a_misspelt_setting_is_named_whichever_transport_runs(hub, name, transport):
    """Without a Connection every partner reads its drop folder: its own transport's settings are
    checked all the same, so that a typo does not pass unseen until the first real run."""
    partner = hub.registry.partner(name)
    hub.registry.partners[name] = replace(partner, receive=replace(partner.receive, options={"patern": "*.xml"}))
    with pytest.raises(ValueError, match=f"{name}: receive: patern not known to transport {transport}"):
        wiring.receive(hub, hub.registry.partner(name))


def test_a_destinations_misspelt_setting_is_named_whichever_transport_runs(hub):
    cjib = hub.registry.destination("cjib")  # over SFTP; without a Connection, to its outbox folder
    with pytest.raises(ValueError, match="cjib: deliver: remot not known to transport sftp"):
        wiring.transport(hub, replace(cjib, options={"remot": "inbox"}))
