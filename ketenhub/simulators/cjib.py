"""CJIB's side of the SFTP inbox: takes every complete file (marker present), checks marker,
XSD and control totals, moves a bad file to inbox/rejected/ and a good one to inbox/processed/,
and executes each OpdrachtId once, whichever file it arrives in."""
from __future__ import annotations

import hashlib
import threading
from decimal import Decimal
from pathlib import Path

from lxml import etree

from ketenhub.markers import read_marker
from ketenhub.simulators.soap import SCHEMAS
from ketenhub.xml.parsing import parser
from ketenhub.xml.schema import compile_schema

NS = "urn:keten:cjib:opdrachten:v1"


class CjibInbox:
    def __init__(self, root: Path):
        self.inbox = Path(root) / "inbox"
        for sub in ("", "processed", "rejected"):
            (self.inbox / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.schema = compile_schema(str(SCHEMAS / "cjib/opdrachten-v1.xsd"))
        self.executed: dict[str, str] = {}  # OpdrachtId -> file it was executed from
        self.repeats = 0
        self.rejected: dict[str, str] = {}  # file -> reason
        self.lock = threading.Lock()

    def process(self) -> None:
        with self.lock:
            for path in sorted(self.inbox.glob("*.xml")):
                marker = path.with_name(path.name + ".sha256")
                if not marker.exists():
                    continue  # still being written
                reason = self._check(path, marker)
                target = self.inbox / ("rejected" if reason else "processed")
                if reason:
                    self.rejected[path.name] = reason
                    (target / f"{path.name}.reden.txt").write_text(reason + "\n")
                else:
                    for item in etree.parse(str(path), parser()).getroot().iter(f"{{{NS}}}Opdracht"):
                        key = item.findtext(f"{{{NS}}}OpdrachtId")
                        if key in self.executed:
                            self.repeats += 1
                        else:
                            self.executed[key] = path.name
                path.replace(target / path.name)
                marker.replace(target / marker.name)

    def _check(self, path: Path, marker: Path) -> str | None:
        data = path.read_bytes()
        if read_marker(marker.read_text()) != hashlib.sha256(data).hexdigest():
            return "marker does not match the file"
        try:
            doc = etree.fromstring(data, parser())
        except etree.XMLSyntaxError:
            return "not well-formed"
        if not self.schema.validate(doc):
            return "not valid against opdrachten-v1.xsd"
        items = list(doc.iter(f"{{{NS}}}Opdracht"))
        if int(doc.findtext(f"{{{NS}}}Kop/{{{NS}}}AantalOpdrachten")) != len(items):
            return "AantalOpdrachten does not match"
        if Decimal(doc.findtext(f"{{{NS}}}Kop/{{{NS}}}TotaalBedrag")) != sum(
                Decimal(i.findtext(f"{{{NS}}}Bedrag")) for i in items):
            return "TotaalBedrag does not match"
        return None

    def state(self) -> dict:
        return {"executed": len(self.executed), "repeats": self.repeats, "rejected": self.rejected}
