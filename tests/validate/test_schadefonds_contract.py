"""The Schadefonds' and KbSP v2's contract examples, each valid or invalid as its comment says,
and the Schadefonds rules the XSD cannot express (adapters/schadefonds.yaml), through what
`ketenhub validate` runs."""
from pathlib import Path

import pytest

from ketenhub import adapters, settings
from ketenhub.hub import Hub
from ketenhub.pipeline import check
from ketenhub.xml.parsing import parse_trusted
from ketenhub.xml.schema import compile_schema, validate
from tests.support.factories import schadefonds_batch, schadefonds_event, write_with_marker

SCHEMAS = settings.load().schemas_dir
SCHADEFONDS = sorted((SCHEMAS / "schadefonds/examples").glob("*.xml"))
KBSP_V2 = sorted((SCHEMAS / "kbsp/examples").glob("*.xml"))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("KETENHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KETENHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")  # not touched: nothing stored
    return Hub()


def validated(hub, path: Path):
    return check(hub, hub.registry.partner("schadefonds"), path)


@pytest.mark.parametrize("example", SCHADEFONDS, ids=lambda p: p.name)
def test_each_schadefonds_example_is_as_its_name_says(hub, example):
    report = validated(hub, example)
    if example.name.startswith("valid-"):
        assert report.state == "valid" and not report.rejected, report.text()
    else:
        assert report.state == "invalid" and report.accepted == 0, report.text()
        ((bericht_id, reason),) = report.rejected
        assert bericht_id.startswith("SF-GB-") and "AanvraagGebeurtenis" in reason  # names the element


def test_the_examples_cover_both_kinds(hub):
    assert {p.name.split("-")[0] for p in SCHADEFONDS} == {"valid", "invalid"}
    assert {p.name.split("-")[0] for p in KBSP_V2} == {"valid", "invalid"}


@pytest.mark.parametrize("example", KBSP_V2, ids=lambda p: p.name)
def test_each_kbsp_v2_example_is_as_its_name_says(example):
    problems = validate(compile_schema(str(SCHEMAS / "kbsp/zaakstatus-v2.xsd")), parse_trusted(str(example)).getroot())
    assert (problems == []) == example.name.startswith("valid-"), problems


GRANTED = "<Beslissing><Toegekend>true</Toegekend><Bedrag>10.00</Bedrag><Beslisdatum>2027-03-12</Beslisdatum></Beslissing>"
REFUSED = "<Beslissing><Toegekend>false</Toegekend><Beslisdatum>2027-03-12</Beslisdatum></Beslissing>"


@pytest.mark.parametrize("soort, beslissing, message", [
    ("BESLISSING", "", "a BESLISSING event must have a Beslissing"),
    ("AANVRAAG_ONTVANGEN", GRANTED, "only a BESLISSING event may have a Beslissing"),
    ("BESLISSING", GRANTED.replace("<Bedrag>10.00</Bedrag>", ""), "(Toegekend true) must have a Bedrag"),
    ("BESLISSING", GRANTED.replace(">true<", "> 1 <"), None),  # xs:boolean's other spelling, with spaces
    ("BESLISSING", REFUSED.replace("</Toegekend>", "</Toegekend><Bedrag>10.00</Bedrag>"),
     "(Toegekend false) may not have a Bedrag"),
    ("BESLISSING", REFUSED.replace(">false<", ">0<").replace("</Toegekend>", "</Toegekend><Bedrag>1.00</Bedrag>"),
     "(Toegekend false) may not have a Bedrag"),
    ("BESLISSING", REFUSED, None),
    ("AANVRAAG_ONTVANGEN", "", None),
])
def test_beslissing_iff_beslissing_and_bedrag_iff_toegekend(hub, tmp_path, soort, beslissing, message):
    path = write_with_marker(tmp_path / "SCHADEFONDS_AANVRAGEN_20270315_001.xml", schadefonds_batch(
        [schadefonds_event(1), schadefonds_event(2, soort, beslissing=beslissing)]))
    report = validated(hub, path)
    assert report.accepted == (2 if message is None else 1)
    if message:
        ((bericht_id, reason),) = report.rejected
        assert bericht_id == "SF-T-0000002" and message in reason and "line" in reason, reason


@pytest.mark.parametrize("case", ["<Parketnummer>13-{n:06d}-26</Parketnummer><Registratienummer>PL07B3 "
                                  "2026123456-1</Registratienummer>", ""])
def test_exactly_one_of_parketnummer_or_registratienummer(hub, tmp_path, case):
    path = write_with_marker(tmp_path / "SCHADEFONDS_AANVRAGEN_20270315_001.xml", schadefonds_batch(
        [schadefonds_event(1), schadefonds_event(2, case=case)]))
    report = validated(hub, path)
    assert report.accepted == 1 and [b for b, _ in report.rejected] == ["SF-T-0000002"]


def test_the_schadefonds_needs_no_python_of_its_own():
    """Its adapter names only what every batch partner has: schema, mapping, rules, SFTP settings."""
    registry = adapters.load(settings.load())
    fund, om = registry.partner("schadefonds"), registry.partner("om")
    assert fund.receive.transport == om.receive.transport == "sftp" and fund.receive.marker == "sha256"
    package = Path(adapters.__file__).parent  # no code names it (the simulators play it)
    assert not [p for p in package.rglob("*.py") if p.parent.name != "simulators"
                and any(f"{q}schadefonds" in p.read_text().lower() for q in "\"'")]
