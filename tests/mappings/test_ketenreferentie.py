"""The Ketenreferentie is a keyed hash (HMAC-SHA256) with a secret outside the code: whoever sees a
reference and the case (a masked document shows both) cannot try every BSN to find whose it is,
and the hub makes none without its key."""
import dataclasses
import hashlib
import hmac
import os
import subprocess

import pytest
from lxml import etree
from sqlalchemy import select

from ketenhub import keys
from ketenhub.xml import xslt
from ketenhub.store.tables import delivery, event
from tests import TEST_KEY
from tests.conftest import DATA, ingest
from tests.support.factories import om_batch, om_event

pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # KbSP v1 until 2027-03-01

# Anna Jansen in the Politie melding and the OM's events, which name the case by both numbers: the
# parketnummer is the case.
CASE, BSN = "13/002157-26", "111222333"
KBSP = "{urn:keten:kbsp:zaakstatus:v1}"


def keyed(case: str, victim: str, key: str = TEST_KEY) -> str:
    return "KR-" + hmac.new(key.encode(), f"{case}|{victim}".encode(), hashlib.sha256).hexdigest()[:32]


def references(hub) -> set[str]:
    with hub.engine.connect() as conn:
        docs = conn.scalars(select(delivery.c.document).where(delivery.c.destination == "kbsp")).all()
    return {etree.fromstring(d).findtext(f"{KBSP}Slachtoffer/{KBSP}Ketenreferentie") for d in docs}


def test_a_reference_cannot_be_reversed_without_the_key(hub, sample):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    refs = references(hub)
    assert keyed(CASE, f"bsn:{BSN}") in refs
    # What a viewer could do with an unkeyed hash: try the case with every BSN. With the key's hash
    # no candidate matches, not even the right one.
    candidates = [f"{n:09d}" for n in range(111222000, 111223000)]
    unkeyed = {"KR-" + hashlib.sha256(f"{CASE}|bsn:{b}".encode()).hexdigest()[:32] for b in candidates}
    assert BSN in candidates and not refs & unkeyed
    assert keyed(CASE, f"bsn:{BSN}", key="another-key-of-the-same-length-or-longer-xxx") not in refs


def test_the_same_victim_and_case_get_the_same_reference_from_every_partner_and_worker(hub, sample, monkeypatch):
    ingest(hub, "politie", sample("politie/melding-aangifte.xml"))
    ingest(hub, "om", sample("om/OM_ZAAKGEBEURTENISSEN_20261120_001.xml"))
    anna = keyed(CASE, f"bsn:{BSN}")
    with hub.engine.connect() as conn:
        docs = conn.scalars(select(delivery.c.document).where(delivery.c.destination == "kbsp")).all()
    mine = [etree.fromstring(d) for d in docs if f"<Bsn>{BSN}</Bsn>".encode() in d]
    assert len(mine) == 4 and {d.findtext(f"{KBSP}Slachtoffer/{KBSP}Ketenreferentie") for d in mine} == {anna}
    # Worker processes cannot ask Airflow: they use the key handed to them with the settings.
    monkeypatch.delenv(f"AIRFLOW_VAR_{keys.VARIABLE.upper()}")
    hub.settings = dataclasses.replace(hub.settings, workers=2)
    events = [om_event(n, victim_bsn="111222333") for n in range(1, 5001)]
    path = hub.settings.home / "OM_ZAAKGEBEURTENISSEN_20261121_001.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(om_batch(events))
    (report,) = ingest(hub, "om", path)
    assert report.accepted == 5000
    with hub.engine.connect() as conn:
        canonical = conn.scalar(select(event.c.canonical).where(event.c.bericht_id == "OM-T-0004711"))
    ref = etree.fromstring(canonical).findtext(".//{urn:ketenhub:canoniek:v1}Ketenreferentie")
    assert ref == keyed("13/004711-26", f"bsn:{BSN}")


def test_the_key_is_not_in_the_code():
    import ketenhub
    for path in (os.path.dirname(ketenhub.__file__),):
        out = subprocess.run(["grep", "-rl", TEST_KEY, path], capture_output=True, text=True)
        assert out.stdout == ""


def test_no_key_no_references(monkeypatch):
    xslt.use_key(None)
    try:
        with pytest.raises(keys.MissingKey, match="ketenhub keys init"):
            xslt.ketenreferentie("R-1", "", BSN, "")
        xslt.stylesheet.cache_clear()
        xslt.for_each.cache_clear()
        with pytest.raises(keys.MissingKey):
            xslt.stylesheet(str(DATA.parent.parent / "mappings/politie-to-canonical.xsl"))
        with pytest.raises(keys.MissingKey, match="too short"):
            xslt.use_key("short")
    finally:
        xslt.use_key(TEST_KEY)
