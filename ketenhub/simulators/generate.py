"""Realistic, valid sample events: Politie meldingen, OM case events, CVOM appeal events.
Deterministic for a given seed; BSNs pass the elfproef; a share can be made invalid."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Iterable, Iterator, Sequence
from xml.sax.saxutils import escape

from ketenhub.validate.rules import elfproef

FIRST = ["Anna", "Jan", "Fatima", "Mohammed", "Sanne", "Pieter", "Eva", "Daan", "Noor", "Lucas"]
LAST = ["Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "Yilmaz", "El Amrani", "Mulder", "Bos"]


class Generator:
    def __init__(self, seed: int = 1):
        self.r = random.Random(seed)

    def bsn(self) -> str:
        while True:
            candidate = f"{self.r.randrange(100000000, 999999999)}"
            if elfproef(candidate):
                return candidate

    def name(self) -> tuple[str, str]:
        return self.r.choice(FIRST), self.r.choice(LAST)

    def day(self, start=date(2026, 1, 1), span=300) -> date:
        return start + timedelta(days=self.r.randrange(span))

    def parketnummer(self, n: int) -> str:
        return f"{self.r.choice(['13', '16', '05', '09'])}{self.r.choice('/-')}{n % 1000000:06d}-26"

    def registratienummer(self, n: int) -> str:
        return f"PL07B3 2026{n % 1000000:06d}-1"

    def persoon(self, tag: str, attrs: str = "", extra: str = "", birth=True) -> str:
        first, last = self.name()
        born = f"<Geboortedatum>{self.day(date(1950, 1, 1), 20000)}</Geboortedatum>" if birth else ""
        return (f"<{tag}{attrs}><Bsn>{self.bsn()}</Bsn><Voornamen>{first}</Voornamen>"
                f"<Geslachtsnaam>{escape(last)}</Geslachtsnaam>{born}{extra}</{tag}>")

    def melding(self, volgnummer: int, bericht_id: str | None = None) -> str:
        victims = "".join(self.persoon("Slachtoffer", f' ref="S{i}"',
                                       f"<Informatiewens>{self.r.choice(['true', 'true', 'false'])}</Informatiewens>",
                                       birth=False)
                          for i in range(1, self.r.randint(1, 3) + 1))
        return (f'<Melding xmlns="urn:keten:politie:slachtoffermelding:v1"><Volgnummer>{volgnummer}</Volgnummer>'
                f"<BerichtId>{bericht_id or f'POL-{volgnummer:09d}'}</BerichtId>"
                f"<Registratienummer>{self.registratienummer(volgnummer)}</Registratienummer>"
                f"<Registratiedatum>{(datetime(2026, 11, 20, 8) + timedelta(minutes=volgnummer)).isoformat()}"
                "</Registratiedatum>"
                f"<Delict><Omschrijving>Woninginbraak</Omschrijving><Pleegdatum>{self.day()}</Pleegdatum></Delict>"
                f"{victims}{self.persoon('Verdachte')}</Melding>")

    def om_event(self, n: int, invalid: bool = False) -> str:
        soort = self.r.choice(["INSCHRIJVING", "ZITTING_GEPLAND", "UITSPRAAK", "STRAFBESCHIKKING", "SEPOT"])
        victims = [f' ref="S{i}"' for i in range(1, self.r.randint(0, 3) + 1)]
        body = ""
        if soort == "ZITTING_GEPLAND":
            body = ("<Zitting><Datumtijd>2027-01-15T10:30:00+01:00</Datumtijd><Instantie>Rechtbank Midden-Nederland"
                    "</Instantie><Locatie>Utrecht</Locatie></Zitting>")
        elif soort == "SEPOT":
            body = f"<Beslissing><Uitkomst>SEPOT</Uitkomst><Datum>{self.day()}</Datum></Beslissing>"
        elif soort in ("UITSPRAAK", "STRAFBESCHIKKING"):
            uitkomst = self.r.choice(["VEROORDEELD", "VEROORDEELD", "VRIJGESPROKEN"])
            boete = f"<Geldboete>{self.r.randrange(5000, 500000) / 100:.2f}</Geldboete>" if self.r.random() < .7 else ""
            orders = "".join(f'<Schadevergoedingsmaatregel slachtofferRef="{v.split(chr(34))[1]}"><Bedrag>'
                             f"{self.r.randrange(1000, 300000) / 100:.2f}</Bedrag></Schadevergoedingsmaatregel>"
                             for v in victims if self.r.random() < .5)
            body = f"<Beslissing><Uitkomst>{uitkomst}</Uitkomst><Datum>{self.day()}</Datum>{boete}{orders}</Beslissing>"
        adres = ("<Adres><Straat>Dorpsstraat</Straat><Huisnummer>1</Huisnummer><Postcode>3511 AB</Postcode>"
                 "<Woonplaats>Utrecht</Woonplaats></Adres>")
        suspect = self.persoon("Verdachte", extra=f"<Skn>{self.r.randrange(10**7, 10**9)}</Skn>{adres}")
        if invalid:
            suspect = suspect.replace("<Bsn>", "<Bsn>1", 1)  # ten digits: against the pattern
        return (f"<Zaakgebeurtenis><BerichtId>OM-{n:09d}</BerichtId><Parketnummer>{self.parketnummer(n)}</Parketnummer>"
                f"<Registratienummer>{self.registratienummer(n)}</Registratienummer><Soort>{soort}</Soort>"
                f"<Tijdstip>2026-11-20T09:00:00+01:00</Tijdstip>{suspect}"
                + "".join(self.persoon("Slachtoffer", v, f"<Informatiewens>{self.r.choice(['true', 'false'])}"
                                       "</Informatiewens>", birth=False) for v in victims)
                + body + "</Zaakgebeurtenis>\n")

    def om_batch(self, start: int, count: int, invalid_share: float = 0.0, first: Sequence[str] = ()):
        """The OM's nightly file, as chunks of bytes (never all in memory); ``first``: events
        given whole, before the ``count`` made up."""
        return _batch("ZaakgebeurtenissenBatch", "urn:keten:om:zaakgebeurtenissen:v1", f"OM-{start}",
                      "00000099000000020000", "2026-11-20T23:30:00+01:00", first, count,
                      (self.om_event(n, invalid=self.r.random() < invalid_share) for n in range(start, start + count)))

    def beroep(self, n: int, invalid: bool = False) -> str:
        soort = self.r.choice(["BEROEP_ONTVANGEN", "BESLISSING", "DOORGEZONDEN_KANTONRECHTER"])
        beslissing = ""
        if soort == "BESLISSING":
            uitkomst = self.r.choice(["GEGROND", "GEDEELTELIJK_GEGROND", "ONGEGROND", "NIET_ONTVANKELIJK"])
            nieuw = "<NieuwSanctiebedrag>99.00</NieuwSanctiebedrag>" if uitkomst == "GEDEELTELIJK_GEGROND" else ""
            beslissing = (f"<Beslissing><Uitkomst>{uitkomst}</Uitkomst><Beslisdatum>{self.day()}</Beslisdatum>"
                          f"{nieuw}<Motivering>Zie de beslissing.</Motivering></Beslissing>")
        first, last = self.name()
        bsn = ("1" if invalid else "") + self.bsn()  # ten digits: against the pattern
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<BeroepGebeurtenis xmlns="urn:keten:cvom:wahvberoep:v1">'
                f"<BerichtId>CVOM-{n:09d}</BerichtId><Soort>{soort}</Soort><Tijdstip>2026-11-21T14:00:00+01:00"
                f"</Tijdstip><DlvZaaknummer>DLV-2026-{n % 10**7:07d}</DlvZaaknummer><Indiener><Bsn>{bsn}</Bsn>"
                f"<Naam>{first} {escape(last)}</Naam><Rol>BETROKKENE</Rol></Indiener><Beschikking><CjibNummer>"
                f"{n % 10**9:09d}</CjibNummer><Kenteken>12-ABC-3</Kenteken><Feitcode>VA039</Feitcode><Pleegdatum>"
                f"{self.day()}</Pleegdatum><Sanctiebedrag>239.00</Sanctiebedrag></Beschikking>{beslissing}"
                "</BeroepGebeurtenis>\n")

    def aanvraag(self, n: int, invalid: bool = False) -> str:
        """A Schadefonds AanvraagGebeurtenis; ``invalid``: a refusal with a Bedrag (against the rules)."""
        soort = self.r.choice(["AANVRAAG_ONTVANGEN", "BESLISSING"])
        zaak = (f"<Parketnummer>{self.parketnummer(n)}</Parketnummer>" if self.r.random() < .7
                else f"<Registratienummer>{self.registratienummer(n)}</Registratienummer>")
        first, last = self.name()
        beslissing = ""
        if soort == "BESLISSING":
            toegekend = self.r.random() < .6
            bedrag = f"<Bedrag>{self.r.randrange(10000, 2500000) / 100:.2f}</Bedrag>" if toegekend or invalid else ""
            beslissing = (f"<Beslissing><Toegekend>{'true' if toegekend else 'false'}</Toegekend>{bedrag}"
                          f"<Beslisdatum>{self.day(date(2027, 1, 1), 60)}</Beslisdatum></Beslissing>")
        return (f"<AanvraagGebeurtenis><BerichtId>SF-GB-{n:010d}</BerichtId>{zaak}"
                f"<Aanvraagnummer>SF-2027-{n % 10**6:06d}</Aanvraagnummer><Soort>{soort}</Soort>"
                f"<Tijdstip>2027-03-14T15:20:00+01:00</Tijdstip><Delict><Omschrijving>Mishandeling</Omschrijving>"
                f"</Delict><Aanvrager><Bsn>{self.bsn()}</Bsn><Naam>{first[0]}. {escape(last)}</Naam>"
                f"<Informatiewens>{self.r.choice(['true', 'true', 'false'])}</Informatiewens></Aanvrager>"
                f"{beslissing}</AanvraagGebeurtenis>\n")

    def schadefonds_batch(self, start: int, count: int, invalid_share: float = 0.0, first: Sequence[str] = ()):
        """The Schadefonds' daily file, as chunks of bytes; ``first`` as for ``om_batch``."""
        return _batch("AanvraagGebeurtenissenBatch", "urn:keten:schadefonds:aanvraag:v1", f"SF-{start}",
                      "00000099000000050000", "2027-03-15T02:00:00+01:00", first, count,
                      (self.aanvraag(n, invalid=self.r.random() < invalid_share) for n in range(start, start + count)))


def _batch(root: str, ns: str, batch_id: str, afzender: str, created: str, first: Sequence[str], count: int,
           made: Iterable[str]) -> Iterator[bytes]:
    """A batch file as the OM's rules have it (a Kop with the count, then the events), in chunks."""
    yield (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{ns}">\n<Kop><BatchId>{batch_id}</BatchId>'
           f'<Afzender>{afzender}</Afzender><Aanmaaktijdstip>{created}</Aanmaaktijdstip>'
           f'<AantalGebeurtenissen>{len(first) + count}</AantalGebeurtenissen></Kop>\n').encode()
    yield from (e.encode() for e in first)
    yield from (e.encode() for e in made)
    yield f"</{root}>\n".encode()
