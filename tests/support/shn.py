"""SHN in tests: the simulator with the hub's Connection, and a project whose KbSP v2 mapping
is a stand-in that only includes SHN's rows (mappings/canonical-to-kbsp-v2-shn.xsl), so that
SHN's routing can be tested end to end before the full v2 mapping is there."""
from __future__ import annotations

import shutil
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

STAND_IN = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Test stand-in for canonical-to-kbsp-v2.xsl: SHN's rows only, included as the real one does. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1" exclude-result-prefixes="k">
  <xsl:include href="canonical-to-kbsp-v2-shn.xsl"/>
  <xsl:template match="k:Gebeurtenis"><Uitgaand xmlns=""/></xsl:template>
</xsl:stylesheet>
"""

ADAPTER = """destination: kbsp2test
name: Ketenbreed Slachtofferportaal v2 (test stand-in)
oin: "00000099000000040000"
schema: kbsp/zaakstatus-v2.xsd
mapping: canonical-to-kbsp-v2-test.xsl
events: [Hulpgebeurtenis]
item: "{urn:keten:kbsp:zaakstatus:v2}Zaakstatus"
key: "string(d:BerichtId)"
recipient: "string(d:Slachtoffer/d:Ketenreferentie)"
envelope: {kind: wrap, root: "{urn:keten:kbsp:zaakstatus:v2}PubliceerZaakstatusVerzoek", max_items: 500, name: KETENHUB_KBSP2}
deliver:
  transport: folder
  folder: outbox/kbsp2test
"""


def project_with_kbsp_v2(folder: Path) -> Path:
    """A project folder: the real adapters, schemas and mappings, plus the stand-in destination."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schemas").symlink_to(PROJECT / "schemas")
    shutil.copytree(PROJECT / "adapters", folder / "adapters")
    (folder / "adapters" / "kbsp2test.yaml").write_text(ADAPTER)
    mappings = folder / "mappings"
    mappings.mkdir()
    for m in (PROJECT / "mappings").glob("*.xsl"):
        (mappings / m.name).symlink_to(m)
    (mappings / "canonical-to-kbsp-v2-test.xsl").write_text(STAND_IN)
    return folder
