"""A destination with several contract versions, from its adapter alone: which version takes
which kind of event at which moment, and what a version may say."""
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from ketenhub import adapters, settings

PORTAAL = """
destination: portaal
name: Een portaal
oin: "00000099000000077000"
key: "string(d:Id)"
recipient: "string(d:Wie)"
envelope: {kind: wrap, max_items: 10, name: KETENHUB_PORTAAL}
deliver: {transport: soap, operation: Publiceer, outcomes: {OK: delivered}, folder: outbox/portaal, max_attempts: 3}
versions:
  - version: v1
    until: "2030-01-01 00:00"        # Amsterdam time
    upgrade: portaal-v1-to-v2.xsl
    schema: portaal/v1.xsd
    mapping: canonical-to-portaal.xsl
    events: [Zaakgebeurtenis]
    item: "{urn:portaal:v1}Status"
    envelope: {root: "{urn:portaal:v1}Verzoek"}
    deliver: {wsdl: portaal/v1.wsdl, result: "{urn:portaal:v1}Resultaat"}
  - version: v2
    until: 2031-01-01
    upgrade: portaal-v2-to-v3.xsl
    schema: portaal/v2.xsd
    mapping: canonical-to-portaal-v2.xsl
    events: [Zaakgebeurtenis, Aanvraaggebeurtenis]
    item: "{urn:portaal:v2}Status"
    envelope: {root: "{urn:portaal:v2}Verzoek"}
    deliver: {wsdl: portaal/v2.wsdl, result: "{urn:portaal:v2}Resultaat", connection: portaal_v2, folder: outbox/p2}
  - version: v3
    from: "2030-06-01T00:00:00+02:00"
    schema: portaal/v3.xsd
    mapping: canonical-to-portaal-v3.xsl
    events: [Zaakgebeurtenis, Aanvraaggebeurtenis, Beroepgebeurtenis]
    item: "{urn:portaal:v3}Status"
    envelope: {root: "{urn:portaal:v3}Verzoek"}
    deliver: {wsdl: portaal/v3.wsdl, result: "{urn:portaal:v3}Resultaat", connection: portaal_v3}
"""


def load(tmp_path, text: str):
    (tmp_path / "adapters").mkdir(exist_ok=True)
    (tmp_path / "adapters" / "portaal.yaml").write_text(text)
    return adapters.load(replace(settings.load(), project=tmp_path)).destination("portaal")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def taking(dest, at):
    return {d.version: sorted(kinds) for d, kinds in dest.taking(at)}


def test_each_kind_goes_through_the_oldest_version_in_use_that_takes_it(tmp_path):
    dest = load(tmp_path, PORTAAL)
    assert taking(dest, utc(2029, 12, 31, 22, 59)) == {"v1": ["Zaakgebeurtenis"], "v2": ["Aanvraaggebeurtenis"]}
    assert taking(dest, utc(2029, 12, 31, 23, 0)) == {"v2": ["Aanvraaggebeurtenis", "Zaakgebeurtenis"]}
    assert taking(dest, utc(2030, 6, 1)) == {"v2": ["Aanvraaggebeurtenis", "Zaakgebeurtenis"],
                                            "v3": ["Beroepgebeurtenis"]}
    assert taking(dest, utc(2031, 1, 1)) == {"v3": ["Aanvraaggebeurtenis", "Beroepgebeurtenis", "Zaakgebeurtenis"]}


def test_a_version_has_the_common_settings_and_its_own(tmp_path):
    dest = load(tmp_path, PORTAAL)
    v1, v2, v3 = (dest.in_version(v) for v in ("v1", "v2", "v3"))
    assert (dest.item, dest.version, dest.connection) == ("{urn:portaal:v3}Status", "v3", "portaal_v3")  # the newest
    assert (v1.folder, v2.folder, v3.folder) == ("outbox/portaal", "outbox/p2", "outbox/portaal")
    assert (v1.connection, v2.connection) == (None, "portaal_v2")  # v1: ketenhub_portaal
    assert v1.envelope == {"kind": "wrap", "max_items": 10, "name": "KETENHUB_PORTAAL", "root": "{urn:portaal:v1}Verzoek"}
    assert v2.options["result"] == "{urn:portaal:v2}Resultaat" and v2.options["outcomes"] == {"OK": "delivered"}
    assert v1.max_attempts == v3.max_attempts == 3 and v1.namespace == "urn:portaal:v1"
    (first, second, third) = dest.versions
    assert str(first.until) == "2030-01-01 00:00:00+01:00" and str(second.until) == "2031-01-01 00:00:00+01:00"
    assert str(third.start) == "2030-06-01 00:00:00+02:00" and first.upgrade == "portaal-v1-to-v2.xsl"


@pytest.mark.parametrize("change, message", [
    (("    upgrade: portaal-v1-to-v2.xsl\n", "    upgrade: portaal-v1-to-v2.xsl\n    name: x\n"), "versions: name"),
    (('until: "2030-01-01 00:00"', 'until: "the first of January"'), "wrong field"),
    (("versions:\n", "versions: []\nx:\n"), "x: no such setting"),
])
def test_a_wrong_version_is_named(tmp_path, change, message):
    with pytest.raises(adapters.AdapterError, match=message):
        load(tmp_path, PORTAAL.replace(*change))


def test_a_version_is_needed(tmp_path):
    with pytest.raises(adapters.AdapterError, match="versions: at least one"):
        load(tmp_path, PORTAAL.split("versions:")[0] + "versions: []\n")


CVOM = (settings.load().adapters_dir / "cvom.yaml").read_text()


@pytest.mark.parametrize("change, message", [
    (("rules:", "rulse:"), r"cvom.yaml: rulse: no such setting \(there are batch, event, "),
    (("receive:", "batch: {root: x, cuont: y}\nreceive:"), "cvom.yaml: batch: cuont: no such setting"),
    (("  - assert:", "  - asert:"), "cvom.yaml: rules: asert: no such setting"),
    (("  schedule:", "  shedule:"), r"cvom.yaml: receive: shedule: no such setting; schedule\?"),
    (("  done: processed", "  done: ."), r"cvom.yaml: .*receive: done: '\.' must be the plain name of a folder"),
])
def test_a_misspelt_setting_is_named_not_ignored(tmp_path, change, message):
    """A typo would otherwise switch off what the setting asks for: rules, the control count."""
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "cvom.yaml").write_text(CVOM.replace(*change, 1))
    with pytest.raises(adapters.AdapterError, match=message):
        adapters.load(replace(settings.load(), project=tmp_path)).partner("cvom")


def test_a_destinations_misspelt_setting_is_named(tmp_path):
    with pytest.raises(adapters.AdapterError, match="portaal.yaml: evnets: no such setting"):
        load(tmp_path, PORTAAL + "evnets: [Zaakgebeurtenis]\n")


def test_a_partner_whose_adapter_does_not_load_is_set_aside_and_the_others_go_on(tmp_path):
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "cvom.yaml").write_text(CVOM.replace("rules:", "rulse:", 1))
    (tmp_path / "adapters" / "portaal.yaml").write_text(PORTAAL)
    registry = adapters.load(replace(settings.load(), project=tmp_path))
    assert list(registry.partners) == [] and list(registry.destinations) == ["portaal"]
    with pytest.raises(adapters.AdapterError, match="cvom.yaml: rulse: no such setting"):
        registry.partner("cvom")


def test_a_destination_whose_adapter_does_not_load_fails_the_whole(tmp_path):
    """Routing without it would store events that never reach it."""
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "cvom.yaml").write_text(CVOM)
    (tmp_path / "adapters" / "portaal.yaml").write_text(PORTAAL + "evnets: []\n")
    with pytest.raises(adapters.AdapterError, match="portaal.yaml: evnets"):
        adapters.load(replace(settings.load(), project=tmp_path))


def test_retention_goes_red_for_a_partner_whose_adapter_does_not_load():
    """Its periods are in its adapter: its data waits, and the run says whose."""
    from airflow.sdk.exceptions import AirflowFailException

    from ketenhub.orchestration.dags import _not_purged
    _not_purged({})
    with pytest.raises(AirflowFailException, match=r"not the data of cvom: its adapter does not load \(cvom.yaml: x"):
        _not_purged({"cvom": "cvom.yaml: x: no such setting"})


def test_a_destinations_misspelt_shared_setting_is_named(tmp_path):
    with pytest.raises(adapters.AdapterError, match=r"portaal.yaml: deliver: max_attempt: no such setting; max_attempts"):
        load(tmp_path, PORTAAL.replace("max_attempts: 3", "max_attempt: 3"))
