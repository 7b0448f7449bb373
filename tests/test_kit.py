"""The integration engineer's kit: ``ketenhub adapter new`` then filling in its TODOs as an
engineer would gives a partner that ``ketenhub adapter check`` passes; each thing an engineer
can get wrong is named by the check in plain words."""
import hashlib
import re
import shutil

import pytest

from ketenhub import kit
from tests.support.project import ROOT, copy_project, project_settings, run_in

OM_OIN = "00000099000000020000"
ACME_OIN = "00000099000000077000"
SAMPLE = "OM_ZAAKGEBEURTENISSEN_20261120_001.xml"


def fill_in(project):
    """What an engineer does after ``new acme --like om`` for a partner that sends what the OM
    sends: its contract (here the OM's), its OIN, its own samples and a real mapping."""
    (project / "schemas/acme").mkdir()
    shutil.copy(project / "schemas/om/zaakgebeurtenissen-v1.xsd", project / "schemas/acme/zaakgebeurtenissen-v1.xsd")
    adapter = project / "adapters/acme.yaml"
    lines = []
    for line in adapter.read_text().splitlines():
        if line.startswith("# "):
            continue
        line = re.sub(r"\s+# TODO.*$", "", line)
        line = {"name: \"TODO: acme's full name\"": "name: Acme Slachtofferdienst",
                'oin: "TODO"': f'oin: "{ACME_OIN}"',
                "schema: acme/TODO.xsd": "schema: acme/zaakgebeurtenissen-v1.xsd"}.get(line, line)
        lines.append(line)
    adapter.write_text("# Acme: case events, as the OM sends them.\n" + "\n".join(lines) + "\n")
    shutil.copy(project / "mappings/om-to-canonical.xsl", project / "mappings/acme-to-canonical.xsl")
    write_sample(project, (project / "tests/data/om" / SAMPLE).read_text().replace(OM_OIN, ACME_OIN))


def write_sample(project, text):
    sample = project / "tests/data/acme" / SAMPLE
    sample.write_text(text)
    digest = hashlib.sha256(sample.read_bytes()).hexdigest()
    sample.with_name(SAMPLE + ".sha256").write_text(f"{digest}  {SAMPLE}\n")


def regenerate(project):
    done = run_in(project, "tests/mappings/regenerate.py")
    assert done.returncode == 0, done.stderr


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project")


@pytest.fixture
def filled(project):
    assert run_in(project, "adapter", "new", "acme", "--like", "om").returncode == 0
    fill_in(project)
    regenerate(project)
    return project


def checked(project, name="acme"):
    checks = kit.check(project_settings(project, project / "home"), name)
    return {c.what: c for c in checks}


def missing(project, what, name="acme"):
    return "\n".join(checked(project, name)[what].missing)


def test_new_like_om_writes_adapter_mapping_and_samples_with_todos(project):
    done = run_in(project, "adapter", "new", "acme", "--like", "om")
    assert done.returncode == 0, done.stderr
    assert "wrote adapters/acme.yaml" in done.stdout
    adapter = (project / "adapters/acme.yaml").read_text()
    assert "partner: acme" in adapter and "mapping: acme-to-canonical.xsl" in adapter
    assert "folder: inbox/acme" in adapter and "ketenhub_acme" in adapter and "ketenhub_om" not in adapter
    assert (project / "mappings/acme-to-canonical.xsl").read_text().count("TODO") == 1
    sample = project / "tests/data/acme" / SAMPLE
    assert "TODO" in sample.read_text()
    assert hashlib.sha256(sample.read_bytes()).hexdigest() in sample.with_name(SAMPLE + ".sha256").read_text()

    done = run_in(project, "adapter", "check", "acme")
    assert done.returncode == 1
    assert "a TODO in adapters/acme.yaml line 5: oin" in done.stdout
    assert "schemas/acme/TODO.xsd does not exist" in done.stdout
    assert "not checked the samples are valid: the schema does not compile" in done.stdout


def test_new_refuses_a_name_in_use_or_not_a_name(project):
    done = run_in(project, "adapter", "new", "schadefonds", "--like", "om")
    assert done.returncode == 2 and "already an adapter" in done.stderr
    done = run_in(project, "adapter", "new", "Acme-2", "--like", "om")
    assert done.returncode == 2 and "cannot name a partner" in done.stderr
    assert not (project / "adapters/Acme-2.yaml").exists()


KINDS = sorted(kit.adapters.load(project_settings(ROOT, ROOT)).partners)  # om, cvom, politie, shn, cjib, ...


def new_and_fill_in(project, like):
    """The engineer's least: the model's contract, OIN, mapping and samples under the new name."""
    s = project_settings(project, project / "home")
    model = kit.adapters.load(s).partner(like)
    assert run_in(project, "adapter", "new", "acme", "--like", like).returncode == 0
    assert not checked(project)["nothing left to do (TODO)"].passed
    schema = project / "schemas" / model.schema
    (project / "schemas/acme").mkdir()
    for path in schema.parent.glob("*.*"):
        shutil.copy(path, project / "schemas/acme" / path.name)
    adapter = project / "adapters/acme.yaml"
    text = "\n".join(re.sub(r"\s+# TODO.*", "", line) for line in adapter.read_text().splitlines()
                     if not line.startswith("# "))
    text = re.sub(r'name: "TODO[^"]*"', "name: Acme", text).replace('oin: "TODO"', f'oin: "{model.oin}"')
    adapter.write_text(re.sub(r"schema: acme/TODO\S*", f"schema: acme/{schema.name}", text) + "\n")
    shutil.copy(project / "mappings" / model.mapping, project / "mappings/acme-to-canonical.xsl")
    for path in (project / "tests/data/acme").iterdir():
        if path.name == "TODO.txt":
            path.unlink()
        elif path.suffix == ".xml":
            path.write_text(re.sub(r"<!-- TODO:.*?-->\n", "", path.read_text()))
    regenerate(project)
    return s


@pytest.mark.parametrize("like", KINDS)
def test_new_like_each_kind_filled_in_passes(project, like):
    s = new_and_fill_in(project, like)
    failed = [(c.what, c.missing) for c in kit.check(s, "acme") if not c.passed]
    assert failed == []


def test_a_mapping_that_leaks_the_convicted_person_to_kbsp_is_named(project):
    new_and_fill_in(project, "cjib")
    mapping = project / "mappings/acme-to-canonical.xsl"
    mapping.write_text(mapping.read_text().replace('<Bsn><xsl:value-of select="c:Bsn"/></Bsn>',
                                                   '<Bsn><xsl:value-of select="../c:Veroordeelde/c:Bsn"/></Bsn>'))
    regenerate(project)
    leaks = missing(project, "nothing about a suspect or convicted person reaches the victim portal")
    assert "event CJIB-SI-2027-000101" in leaks and "value(s) of a Verdachte or Veroordeelde" in leaks
    assert "805888718" not in leaks


def test_filled_in_partner_passes_every_check(filled):
    done = run_in(filled, "adapter", "check", "acme")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every check passed" in done.stdout
    assert "Zaakgebeurtenis: cjib, kbsp" in done.stdout


def test_new_like_shn_filled_in_passes(project):
    """A JSON partner: its schema a JSON Schema, its samples pages, their TODO in a file beside them."""
    assert run_in(project, "adapter", "new", "hulp", "--like", "shn").returncode == 0
    assert "schema: hulp/TODO.schema.json" in (project / "adapters/hulp.yaml").read_text()
    (project / "schemas/hulp").mkdir()
    shutil.copy(project / "schemas/shn/hulpverlening-v1.schema.json", project / "schemas/hulp/hulpverlening-v1.schema.json")
    adapter = project / "adapters/hulp.yaml"
    text = re.sub(r"\s+# TODO.*", "", "\n".join(line for line in adapter.read_text().splitlines() if not line.startswith("# ")))
    adapter.write_text(text.replace("name: \"TODO: hulp's full name\"", "name: Hulp")
                       .replace('oin: "TODO"', 'oin: "00000099000000078000"')
                       .replace("schema: hulp/TODO.schema.json", "schema: hulp/hulpverlening-v1.schema.json") + "\n")
    shutil.copy(project / "mappings/shn-to-canonical.xsl", project / "mappings/hulp-to-canonical.xsl")
    (project / "tests/data/hulp/TODO.txt").unlink()
    assert "schemas/hulp" not in missing(project, "the contract's schema compiles", "hulp")
    assert "does not exist" in missing(project, "the golden files are current", "hulp")
    regenerate(project)
    failed = [c for c in kit.check(project_settings(project, project / "home"), "hulp") if not c.passed]
    assert failed == []


def test_every_partner_of_the_project_passes(project):
    s = project_settings(ROOT, project / "home")
    for name in kit.adapters.load(s).partners:
        failed = [c for c in kit.check(s, name) if not c.passed]
        assert failed == [], name


def test_a_broken_mapping_is_named(filled):
    mapping = filled / "mappings/acme-to-canonical.xsl"
    mapping.write_text(mapping.read_text().replace('<Tijdstip><xsl:value-of select="o:Tijdstip"/></Tijdstip>', ""))
    text = missing(filled, "the mapping makes valid canonical events")
    assert "event OM-1001" in text and "Tijdstip" in text
    mapping.write_text(mapping.read_text().replace("</xsl:stylesheet>", ""))
    assert "mappings/acme-to-canonical.xsl does not compile" in missing(filled, "the mapping makes valid canonical events")


def test_missing_samples_are_named(filled):
    for path in (filled / "tests/data/acme").iterdir():
        path.unlink()
    checks = checked(filled)
    assert "no samples: put acme's example events under tests/data/acme/" in "\n".join(checks["the samples are valid"].missing)
    assert checks["the golden files are current"].skipped


def test_an_invalid_sample_is_named_with_its_rule(filled):
    text = (filled / "tests/data/acme" / SAMPLE).read_text()
    write_sample(filled, text.replace("<Soort>ZITTING_GEPLAND</Soort>", "<Soort>ZITTING_GEPLAND</Soort>", 1)
                 .replace("<Zitting>", "<!--", 1).replace("</Zitting>", "-->", 1))
    assert f"{SAMPLE}, event OM-1002: a ZITTING_GEPLAND event must have a Zitting" in missing(filled, "the samples are valid")


def test_a_stale_golden_file_is_named(filled):
    mapping = filled / "mappings/acme-to-canonical.xsl"
    mapping.write_text(mapping.read_text().replace('<Locatie><xsl:value-of select="o:Locatie"/></Locatie>',
                                                   '<Locatie>elders</Locatie>'))
    text = missing(filled, "the golden files are current")
    assert "tests/mappings/golden/acme-to-canonical/acme-OM-1002.expected.xml is stale" in text
    assert "regenerate.py" in text
    (filled / "tests/mappings/golden/acme-to-canonical/acme-OM-1002.expected.xml").unlink()
    assert "acme-OM-1002.expected.xml does not exist" in missing(filled, "the golden files are current")
    regenerate(filled)
    assert checked(filled)["the golden files are current"].passed


def test_a_mapping_that_leaks_a_suspect_to_kbsp_is_named(filled):
    mapping = filled / "mappings/acme-to-canonical.xsl"
    # The victim's person taken from the suspect where there is one: valid, and wrong.
    mapping.write_text(mapping.read_text().replace(
        '<Persoon><xsl:call-template name="persoon"/></Persoon>',
        '<Persoon><xsl:for-each select="(../o:Verdachte | .)[1]"><xsl:call-template name="persoon"/></xsl:for-each>'
        '</Persoon>'))
    regenerate(filled)  # current golden files do not make it right
    done = run_in(filled, "adapter", "check", "acme")
    assert done.returncode == 1
    leaks = missing(filled, "nothing about a suspect or convicted person reaches the victim portal")
    assert "event OM-1001" in leaks and "value(s) of a Verdachte or Veroordeelde" in leaks
    assert "123456782" not in done.stdout and "Boef" not in done.stdout  # the check itself tells no one


def test_a_new_kind_of_event_says_the_canonical_model_must_grow(filled):
    mapping = filled / "mappings/acme-to-canonical.xsl"
    mapping.write_text(mapping.read_text().replace("<Zaakgebeurtenis>", "<Vonnisgebeurtenis>")
                       .replace("</Zaakgebeurtenis>", "</Vonnisgebeurtenis>"))
    text = missing(filled, "the mapping makes valid canonical events")
    assert "makes a Vonnisgebeurtenis, a kind of event the canonical model does not have yet" in text
    assert "README" in text


def test_a_kind_no_destination_takes_is_named(filled):
    for name in ("cjib", "kbsp"):
        adapter = filled / f"adapters/{name}.yaml"
        adapter.write_text(adapter.read_text().replace("Zaakgebeurtenis, ", "")
                           .replace("[Zaakgebeurtenis]", "[]"))
    assert "no destination takes a Zaakgebeurtenis" in missing(filled, ROUTING)


ROUTING = "a destination takes each kind of event, and takes its items (routing rows)"


def test_an_item_a_destination_would_refuse_is_named(filled):
    """Not only the victim portal's: CJIB's too, which the intake would reject every such event for."""
    mapping = filled / "mappings/canonical-to-cjib.xsl"
    mapping.write_text(mapping.read_text().replace('<Beslisdatum><xsl:value-of select="../k:Datum"/></Beslisdatum>',
                                                   "<Beslisdatum>gisteren</Beslisdatum>"))
    regenerate(filled)  # current golden files do not make it right
    text = missing(filled, ROUTING)
    assert "produced an item CJIB would refuse" in text and "Beslisdatum" in text, text


def test_a_destination_is_checked_by_name_its_misspelt_kind_named(project):
    """A kind misspelt in events: would route every such event nowhere, unseen."""
    adapter = project / "adapters/dlv.yaml"
    adapter.write_text(adapter.read_text().replace("Beroepgebeurtenis", "Beroepsgebeurtenis", 1))
    done = run_in(project, "adapter", "check", "dlv")
    assert done.returncode == 1 and done.stdout.startswith("adapter dlv:\n"), done.stdout + done.stderr
    assert "events: Beroepsgebeurtenis is not a kind of event the canonical model has" in done.stdout
    both = run_in(project, "adapter", "check", "cjib")  # a partner and a destination: both checked
    assert both.returncode == 0 and "adapter cjib:\n" in both.stdout and "adapter cjib (destination):\n" in both.stdout


def test_a_broken_partner_that_is_also_a_destination_is_checked_as_both(project):
    """CJIB: its partner adapter's typo is named, not only its destination's checks passed."""
    adapter = project / "adapters/cjib-slachtofferinformatie.yaml"
    adapter.write_text(adapter.read_text().replace("rules:", "rulse:", 1))
    done = run_in(project, "adapter", "check", "cjib")
    assert done.returncode == 1 and "rulse: no such setting" in done.stdout, done.stdout + done.stderr
