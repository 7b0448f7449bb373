"""The OM's and the Politie's mappings normalise Parketnummer, Informatiewens, Taal and (the
OM's) amounts in plain XSLT rather than with the kh: functions (see the mappings): for every
lexical form the partner's XSD admits, they must give what those functions give."""
import pytest
from lxml import etree

from ketenhub import adapters, settings
from ketenhub.xml import xslt
from ketenhub.xml.schema import compile_schema, validate

SETTINGS = settings.load()
REGISTRY = adapters.load(SETTINGS)
K = "{urn:ketenhub:canoniek:v1}"


def om_event(parket, wens, taal, boete="250.00", bedrag="75.25") -> str:
    return f"""<Zaakgebeurtenis xmlns="{REGISTRY.partner('om').namespace}">
      <BerichtId>OM-1</BerichtId><Parketnummer>{parket}</Parketnummer><Soort>UITSPRAAK</Soort>
      <Tijdstip>2026-11-20T11:00:00+01:00</Tijdstip>
      <Verdachte><Bsn>100000010</Bsn><Geslachtsnaam>Hendriks</Geslachtsnaam></Verdachte>
      <Slachtoffer ref="V1"><Bsn>100000022</Bsn><Geslachtsnaam>de Vries</Geslachtsnaam>
        <Informatiewens>{wens}</Informatiewens>{taal}</Slachtoffer>
      <Beslissing><Uitkomst>VEROORDEELD</Uitkomst><Datum>2026-11-20</Datum><Geldboete>{boete}</Geldboete>
        <Schadevergoedingsmaatregel slachtofferRef="V1"><Bedrag>{bedrag}</Bedrag></Schadevergoedingsmaatregel>
      </Beslissing></Zaakgebeurtenis>"""


def politie_event(parket, wens, taal) -> str:
    return f"""<Melding xmlns="{REGISTRY.partner('politie').namespace}">
      <Volgnummer>1</Volgnummer><BerichtId>POL-1</BerichtId><Registratienummer>PL07B3 2026123456-1</Registratienummer>
      <Registratiedatum>2026-11-20T10:15:00+01:00</Registratiedatum><Parketnummer>{parket}</Parketnummer>
      <Delict><Omschrijving>Woninginbraak</Omschrijving><Pleegdatum>2026-11-19</Pleegdatum></Delict>
      <Slachtoffer ref="S1"><Bsn>100000022</Bsn><Geslachtsnaam>de Vries</Geslachtsnaam>
        <Informatiewens>{wens}</Informatiewens>{taal}</Slachtoffer></Melding>"""


EVENTS = {"om": om_event, "politie": politie_event}


def canonical(partner, parket="13-000123-26", wens="true", taal="", **amounts):
    p = REGISTRY.partner(partner)
    event = etree.fromstring(EVENTS[partner](parket, wens, taal, **amounts))
    assert validate(compile_schema(str(SETTINGS.schemas_dir / p.schema)), event) == []  # a form the partner may send
    return xslt.transform(SETTINGS.mappings_dir / p.mapping, event, partner=partner.upper(), oin=p.oin).getroot()


@pytest.mark.parametrize("partner", EVENTS)
@pytest.mark.parametrize("parket", ["13-000123-26", "13/000123-26"])
def test_parketnummer(partner, parket):
    assert canonical(partner, parket=parket).findtext(f".//{K}Zaak/{K}Parketnummer") == xslt.parketnummer(parket)


@pytest.mark.parametrize("partner", EVENTS)
@pytest.mark.parametrize("wens", ["true", "false", "1", "0", " true ", "\n0\t"])
def test_informatiewens(partner, wens):
    assert canonical(partner, wens=wens).findtext(f".//{K}Informatiewens") == xslt.boolean(wens)


@pytest.mark.parametrize("partner", EVENTS)
@pytest.mark.parametrize("taal", ["", "<Taal>en</Taal>", "<Taal> fr-BE </Taal>", "<Taal></Taal>"])
def test_taal(partner, taal):
    value = etree.fromstring(f"<x>{taal}</x>").findtext("Taal") or ""
    assert canonical(partner, taal=taal).findtext(f".//{K}Taal") == xslt.taal(value)


@pytest.mark.parametrize("amount", ["250", "250.5", "250.50", "+250.50", "0250.5", ".5", "7.", " 12.30 ",
                                    "0.01", "99999999.99", "12345678.9"])
def test_amounts(amount):
    result = canonical("om", boete=amount, bedrag=amount)
    assert result.findtext(f".//{K}Geldboete") == xslt.bedrag(amount)
    assert result.findtext(f".//{K}Schadevergoedingsmaatregel/{K}Bedrag") == xslt.bedrag(amount)
