"""The OM mapping normalises Parketnummer, Informatiewens, Taal and amounts in plain XSLT rather
than with the kh: functions (see the mapping): for every lexical form the OM's XSD admits, it
must give what those functions give."""
import pytest
from lxml import etree

from ketenhub import adapters, settings
from ketenhub.xml import xslt
from ketenhub.xml.schema import compile_schema, validate

SETTINGS = settings.load()
OM = adapters.load(SETTINGS).partner("om")
K = "{urn:ketenhub:canoniek:v1}"


def canonical(parket="13-000123-26", wens="true", taal="", boete="250.00", bedrag="75.25"):
    event = etree.fromstring(f"""<Zaakgebeurtenis xmlns="{OM.namespace}">
      <BerichtId>OM-1</BerichtId><Parketnummer>{parket}</Parketnummer><Soort>UITSPRAAK</Soort>
      <Tijdstip>2026-11-20T11:00:00+01:00</Tijdstip>
      <Verdachte><Bsn>100000010</Bsn><Geslachtsnaam>Hendriks</Geslachtsnaam></Verdachte>
      <Slachtoffer ref="V1"><Bsn>100000022</Bsn><Geslachtsnaam>de Vries</Geslachtsnaam>
        <Informatiewens>{wens}</Informatiewens>{taal}</Slachtoffer>
      <Beslissing><Uitkomst>VEROORDEELD</Uitkomst><Datum>2026-11-20</Datum><Geldboete>{boete}</Geldboete>
        <Schadevergoedingsmaatregel slachtofferRef="V1"><Bedrag>{bedrag}</Bedrag></Schadevergoedingsmaatregel>
      </Beslissing></Zaakgebeurtenis>""")
    assert validate(compile_schema(str(SETTINGS.schemas_dir / OM.schema)), event) == []  # a form the OM may send
    return xslt.transform(SETTINGS.mappings_dir / OM.mapping, event, partner="OM", oin=OM.oin).getroot()


@pytest.mark.parametrize("parket", ["13-000123-26", "13/000123-26"])
def test_parketnummer(parket):
    assert canonical(parket=parket).findtext(f".//{K}Zaak/{K}Parketnummer") == xslt.parketnummer(parket)


@pytest.mark.parametrize("wens", ["true", "false", "1", "0", " true ", "\n0\t"])
def test_informatiewens(wens):
    assert canonical(wens=wens).findtext(f".//{K}Informatiewens") == xslt.boolean(wens)


@pytest.mark.parametrize("taal", ["", "<Taal>en</Taal>", "<Taal> fr-BE </Taal>", "<Taal></Taal>"])
def test_taal(taal):
    value = etree.fromstring(f"<x>{taal}</x>").findtext("Taal") or ""
    assert canonical(taal=taal).findtext(f".//{K}Taal") == xslt.taal(value)


@pytest.mark.parametrize("amount", ["250", "250.5", "250.50", "+250.50", "0250.5", ".5", "7.", " 12.30 ",
                                    "0.01", "99999999.99", "12345678.9"])
def test_amounts(amount):
    result = canonical(boete=amount, bedrag=amount)
    assert result.findtext(f".//{K}Geldboete") == xslt.bedrag(amount)
    assert result.findtext(f".//{K}Schadevergoedingsmaatregel/{K}Bedrag") == xslt.bedrag(amount)
