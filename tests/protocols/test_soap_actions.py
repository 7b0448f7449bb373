"""The SOAPActions the hub sends, read from the contract's WSDL with lxml (not zeep): the same
as zeep reads them, for every WSDL under schemas/; safely; and without importing zeep at all."""
import subprocess
import sys

import pytest

from ketenhub.protocols.soap import soap_actions
from ketenhub.settings import PROJECT_DIR

WSDLS = sorted((PROJECT_DIR / "schemas").glob("*/*.wsdl"))


@pytest.mark.parametrize("wsdl", WSDLS, ids=lambda p: p.name)
def test_the_actions_are_those_zeep_reads(wsdl):
    from zeep import Client, Settings

    client = Client(str(wsdl), settings=Settings(strict=True, forbid_dtd=True, forbid_entities=True))
    binding = next(iter(client.wsdl.bindings.values()))
    assert soap_actions(str(wsdl)) == {name: op.soapaction for name, op in binding._operations.items()}


def test_every_wsdl_is_read():
    assert len(WSDLS) >= 4 and all(soap_actions(str(w)) for w in WSDLS)


SOAP11 = '''<?xml version="1.0"?>
{doctype}<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/">
  <wsdl:binding name="Soap12Binding" type="x">
    <soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Lever"><soap12:operation soapAction="urn:soap12:Lever"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="Binding" type="x">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Lever"><soap:operation soapAction="{action}"/></wsdl:operation>
    <wsdl:operation name="Zonder"><soap:operation/></wsdl:operation>
  </wsdl:binding>
</wsdl:definitions>'''


def test_the_soap11_binding_is_read_and_an_operation_without_an_action_left_out(tmp_path):
    wsdl = tmp_path / "a.wsdl"
    wsdl.write_text(SOAP11.format(doctype="", action="urn:soap11:Lever"))
    assert soap_actions(str(wsdl)) == {"Lever": "urn:soap11:Lever"}


def test_no_dtd_of_a_wsdl_is_loaded(tmp_path):
    dtd = tmp_path / "secret.dtd"  # were it loaded, its entity would end up in the action
    dtd.write_text('<!ENTITY s "geheim">')
    wsdl = tmp_path / "b.wsdl"
    wsdl.write_text(SOAP11.format(doctype=f'<!DOCTYPE wsdl:definitions SYSTEM "{dtd.as_uri()}">\n', action="urn:&s;"))
    assert soap_actions(str(wsdl))["Lever"] == "urn:"


def test_receiving_from_politie_imports_no_zeep():
    code = ("import sys, ketenhub.receive.soap, ketenhub.deliver.soap, ketenhub.wiring; "
            "print('zeep' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
