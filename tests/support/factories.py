"""Builders for test payloads: OM batches of any size, with valid or broken events."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ketenhub.deliver.transports import Transport
from ketenhub.markers import marker_line, marker_name

OM_NS = "urn:keten:om:zaakgebeurtenissen:v1"


def om_event(n: int, soort: str = "INSCHRIJVING", bsn: str = "123456782", extra: str = "",
             victim_bsn: str = "111222333", informatiewens: str = "true") -> str:
    return f"""  <Zaakgebeurtenis>
    <BerichtId>OM-T-{n:07d}</BerichtId>
    <Parketnummer>13-{n % 1000000:06d}-26</Parketnummer>
    <Soort>{soort}</Soort>
    <Tijdstip>2026-11-20T09:00:00+01:00</Tijdstip>
    <Verdachte><Bsn>{bsn}</Bsn><Voornamen>Karel</Voornamen><Geslachtsnaam>Boef</Geslachtsnaam></Verdachte>
    <Slachtoffer ref="S1"><Bsn>{victim_bsn}</Bsn><Geslachtsnaam>Jansen</Geslachtsnaam><Informatiewens>{informatiewens}</Informatiewens></Slachtoffer>{extra}
  </Zaakgebeurtenis>
"""


def om_batch(events: list[str], count: int | None = None) -> bytes:
    head = f"""<?xml version="1.0" encoding="UTF-8"?>
<ZaakgebeurtenissenBatch xmlns="{OM_NS}">
  <Kop>
    <BatchId>OM-TEST</BatchId>
    <Afzender>00000099000000020000</Afzender>
    <Aanmaaktijdstip>2026-11-20T23:30:00+01:00</Aanmaaktijdstip>
    <AantalGebeurtenissen>{len(events) if count is None else count}</AantalGebeurtenissen>
  </Kop>
"""
    return (head + "".join(events) + "</ZaakgebeurtenissenBatch>\n").encode()


def write_with_marker(path: Path, data: bytes, marker: str | None = None) -> Path:
    path.write_bytes(data)
    digest = marker if marker is not None else hashlib.sha256(data).hexdigest()
    path.with_name(marker_name(path.name)).write_text(marker_line(digest, path.name))
    return path


class Unreachable(Transport):
    """A destination that cannot be reached: every send fails as a transient error would."""

    def send(self, name, document, keys):
        raise ConnectionError(f"{name}: destination unreachable")


SF_NS = "urn:keten:schadefonds:aanvraag:v1"


def schadefonds_event(n: int, soort: str = "AANVRAAG_ONTVANGEN", bsn: str = "111222333", informatiewens: str = "true",
                      case: str = "<Parketnummer>13-{n:06d}-26</Parketnummer>", beslissing: str | None = None) -> str:
    """One AanvraagGebeurtenis; a BESLISSING gets a granted decision unless ``beslissing`` says otherwise."""
    if beslissing is None:
        beslissing = ("<Beslissing><Toegekend>true</Toegekend><Bedrag>1000.00</Bedrag><Beslisdatum>2027-03-12"
                      "</Beslisdatum></Beslissing>") if soort == "BESLISSING" else ""
    return f"""  <AanvraagGebeurtenis>
    <BerichtId>SF-T-{n:07d}</BerichtId>
    {case.format(n=n % 1000000)}
    <Aanvraagnummer>SF-2027-{n % 1000000:06d}</Aanvraagnummer>
    <Soort>{soort}</Soort>
    <Tijdstip>2027-03-14T15:20:00+01:00</Tijdstip>
    <Delict><Omschrijving>Mishandeling</Omschrijving></Delict>
    <Aanvrager><Bsn>{bsn}</Bsn><Naam>A. Jansen</Naam><Informatiewens>{informatiewens}</Informatiewens></Aanvrager>
    {beslissing}
  </AanvraagGebeurtenis>
"""


def schadefonds_batch(events: list[str], count: int | None = None, sender: str = "00000099000000050000") -> bytes:
    head = f"""<?xml version="1.0" encoding="UTF-8"?>
<AanvraagGebeurtenissenBatch xmlns="{SF_NS}">
  <Kop>
    <BatchId>SF-TEST</BatchId>
    <Afzender>{sender}</Afzender>
    <Aanmaaktijdstip>2027-03-15T02:00:00+01:00</Aanmaaktijdstip>
    <AantalGebeurtenissen>{len(events) if count is None else count}</AantalGebeurtenissen>
  </Kop>
"""
    return (head + "".join(events) + "</AanvraagGebeurtenissenBatch>\n").encode()
