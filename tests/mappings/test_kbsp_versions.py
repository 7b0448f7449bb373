"""KbSP v1 and v2 agree, as the contract says: for every sample event, the v2 mapping gives
exactly what the v1 mapping gives, converted by kbsp-v1-to-v2.xsl (namespace, Bron after
Status), the same BerichtIds included; so a status first made for v1 and sent through v2 after
the switch is the status v2 would have made, and the portal's one register sees it once."""
from pathlib import Path

import pytest
from lxml import etree

from ketenhub import adapters, settings
from ketenhub.xml.schema import compile_schema, validate
from ketenhub.xml.xslt import transform

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = settings.load()
KBSP = adapters.load(SETTINGS).destination("kbsp")
V1, V2 = (KBSP.in_version(v) for v in ("v1", "v2"))
CASES = sorted((GOLDEN / "canonical-to-kbsp").glob("*.input.xml"))
_PARSER = etree.XMLParser(remove_blank_text=True)


def c14n(el) -> bytes:
    return etree.tostring(etree.fromstring(etree.tostring(el), _PARSER), method="c14n")


def test_the_adapter_names_the_upgrade_of_v1():
    (v1, v2) = KBSP.versions
    assert (v1.version, v1.upgrade, v2.version, v2.upgrade) == ("v1", "kbsp-v1-to-v2.xsl", "v2", None)
    assert str(v1.until) == "2027-03-01 00:00:00+01:00" and v2.until is None


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name.removesuffix(".input.xml"))
def test_v2_of_a_v1_status_is_v1_converted(case):
    canonical = etree.parse(str(case), _PARSER)
    v1 = transform(SETTINGS.mappings_dir / V1.mapping, canonical).getroot()
    v2 = transform(SETTINGS.mappings_dir / V2.mapping, canonical).getroot()
    converted = [transform(SETTINGS.mappings_dir / "kbsp-v1-to-v2.xsl", etree.ElementTree(item)).getroot()
                 for item in v1]
    assert len(v1) == len(v2) > 0
    schema = compile_schema(str(SETTINGS.schemas_dir / V2.schema))
    for made, upgraded in zip(v2, converted):
        assert validate(schema, upgraded) == []
        assert c14n(made) == c14n(upgraded)


def test_bron_follows_the_source():
    bron = {}
    for case in CASES:
        for item in transform(SETTINGS.mappings_dir / V2.mapping, etree.parse(str(case), _PARSER)).getroot():
            bron[item.findtext(f"{{{V2.namespace}}}Status")] = item.findtext(f"{{{V2.namespace}}}Bron")
    assert bron == {"AANGIFTE_ONTVANGEN": "POLITIE", "ZAAK_BIJ_OM": "OM", "ZITTING_GEPLAND": "OM", "UITSPRAAK": "OM",
                    "STRAFBESCHIKKING": "OM", "ZAAK_GESEPONEERD": "OM"}


def test_a_kind_no_source_takes_yields_nothing():
    other = etree.fromstring(b"""<Gebeurtenis xmlns="urn:ketenhub:canoniek:v1"><BerichtId>X</BerichtId>
      <Bron><Partner>CVOM</Partner><Oin>00000099000000021000</Oin></Bron><Tijdstip>2026-11-21T14:00:00+01:00</Tijdstip>
      <Beroepgebeurtenis><Soort>BEROEP_ONTVANGEN</Soort><DlvZaaknummer>D-1</DlvZaaknummer></Beroepgebeurtenis>
      </Gebeurtenis>""")
    result = transform(SETTINGS.mappings_dir / V2.mapping, other).getroot()
    assert result.tag == "Uitgaand" and len(result) == 0 and not (result.text or "").strip()
