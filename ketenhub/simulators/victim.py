"""The demo's one victim whose case every source reports on: Vera Voorbeeld, assaulted in
Utrecht, as the police, the OM, Slachtofferhulp Nederland, the Schadefonds Geweldsmisdrijven and
CJIB each send it, so that the portal shows her one timeline (``GET /_sim/timeline?bsn=...`` at the
KbSP simulator). Fictional: made-up names, BSNs of the 99999xxxx kind used as test numbers.

The case's numbers link the sources as in the chain: the police report names the registratienummer
and, decided at the ZSM table that evening, the OM's parketnummer; the OM, the fund and CJIB name
the parketnummer; SHN names only the registratienummer the police referred her with, which the
hub's case register links to the parketnummer. So every status gets the one Ketenreferentie, as
long as the police report is stored before SHN's steps (the demo waits for its confirmation)."""
from __future__ import annotations

BSN = "999990019"
REGISTRATIENUMMER = "PL16V1 2026031001-1"
PARKETNUMMER = "16/031001-26"
# The suspect, later the convicted person: none of it may reach the portal.
SUSPECT = {"bsn": "999990032", "voornamen": "Teun", "geslachtsnaam": "Testpersoon", "geboortedatum": "1990-04-12",
           "skn": "90001234", "straat": "Proefstraat", "postcode": "3511 ZZ"}
SOURCES = ("POLITIE", "OM", "SHN", "SCHADEFONDS", "CJIB")

_VICTIM = f"<Bsn>{BSN}</Bsn><Voornamen>Vera</Voornamen><Geslachtsnaam>Voorbeeld</Geslachtsnaam>"
_SUSPECT = (f"<Bsn>{SUSPECT['bsn']}</Bsn><Voornamen>{SUSPECT['voornamen']}</Voornamen>"
            f"<Geslachtsnaam>{SUSPECT['geslachtsnaam']}</Geslachtsnaam>"
            f"<Geboortedatum>{SUSPECT['geboortedatum']}</Geboortedatum>")
_ADRES = (f"<Straat>{SUSPECT['straat']}</Straat><Huisnummer>7</Huisnummer><Postcode>{SUSPECT['postcode']}</Postcode>"
          "<Woonplaats>Utrecht</Woonplaats>")


def melding(volgnummer: int) -> str:
    """The police report, queued at the Politie simulator under ``volgnummer``."""
    return ('<Melding xmlns="urn:keten:politie:slachtoffermelding:v1">'
            f"<Volgnummer>{volgnummer}</Volgnummer><BerichtId>POL-DEMO-VOORBEELD-1</BerichtId>"
            f"<Registratienummer>{REGISTRATIENUMMER}</Registratienummer>"
            f"<Registratiedatum>2026-03-09T21:40:00+01:00</Registratiedatum><Parketnummer>{PARKETNUMMER}</Parketnummer>"
            "<Delict><Omschrijving>Mishandeling</Omschrijving><Pleegdatum>2026-03-09</Pleegdatum>"
            "<Pleegplaats>Utrecht</Pleegplaats></Delict>"
            f'<Slachtoffer ref="S1">{_VICTIM}<Informatiewens>true</Informatiewens></Slachtoffer>'
            f"<Verdachte>{_SUSPECT}</Verdachte></Melding>")


def _om(n: int, soort: str, tijdstip: str, body: str = "") -> str:
    return (f"<Zaakgebeurtenis><BerichtId>OM-DEMO-VOORBEELD-{n}</BerichtId><Parketnummer>{PARKETNUMMER}</Parketnummer>"
            f"<Registratienummer>{REGISTRATIENUMMER}</Registratienummer><Soort>{soort}</Soort>"
            f"<Tijdstip>{tijdstip}</Tijdstip><Verdachte>{_SUSPECT}<Skn>{SUSPECT['skn']}</Skn><Adres>{_ADRES}</Adres>"
            f'</Verdachte><Slachtoffer ref="S1">{_VICTIM}<Informatiewens>true</Informatiewens></Slachtoffer>'
            f"{body}</Zaakgebeurtenis>\n")


def om_events() -> list[str]:
    """The OM's case events, for its first nightly file."""
    return [
        _om(1, "INSCHRIJVING", "2026-03-11T09:00:00+01:00"),
        _om(2, "ZITTING_GEPLAND", "2026-04-20T09:00:00+02:00",
            "<Zitting><Datumtijd>2026-06-17T13:30:00+02:00</Datumtijd><Instantie>Rechtbank Midden-Nederland"
            "</Instantie><Locatie>Utrecht</Locatie></Zitting>"),
        _om(3, "UITSPRAAK", "2026-06-17T16:00:00+02:00",
            "<Beslissing><Uitkomst>VEROORDEELD</Uitkomst><Datum>2026-06-17</Datum><Geldboete>450.00</Geldboete>"
            '<Schadevergoedingsmaatregel slachtofferRef="S1"><Bedrag>1850.00</Bedrag></Schadevergoedingsmaatregel>'
            "</Beslissing>"),
    ]


def _help(n: int, soort: str, tijdstip: str) -> dict:
    return {"berichtId": f"shn-demo-voorbeeld-{n}", "soort": soort, "tijdstip": tijdstip,
            "slachtoffer": {"bsn": BSN, "naam": "V. Voorbeeld", "informatiewens": True},
            "registratienummer": REGISTRATIENUMMER, "hulpverlener": "Slachtofferhulp Nederland, regio Midden-Nederland"}


def shn_events() -> list[dict]:
    """SHN's help steps, for its feed."""
    return [_help(1, "HULP_AANGEBODEN", "2026-03-10T10:15:00+01:00"),
            _help(2, "HULP_GESTART", "2026-03-16T14:00:00+01:00"),
            _help(3, "HULP_AFGESLOTEN", "2026-10-05T16:30:00+02:00")]


def _fund(n: int, soort: str, tijdstip: str, beslissing: str = "") -> str:
    return (f"<AanvraagGebeurtenis><BerichtId>SF-DEMO-VOORBEELD-{n}</BerichtId><Parketnummer>{PARKETNUMMER}"
            f"</Parketnummer><Aanvraagnummer>SF-2026-031001</Aanvraagnummer><Soort>{soort}</Soort>"
            f"<Tijdstip>{tijdstip}</Tijdstip><Delict><Omschrijving>Mishandeling</Omschrijving>"
            f"<Pleegdatum>2026-03-09</Pleegdatum></Delict><Aanvrager><Bsn>{BSN}</Bsn><Naam>V. Voorbeeld</Naam>"
            f"<Informatiewens>true</Informatiewens></Aanvrager>{beslissing}</AanvraagGebeurtenis>\n")


def fund_events() -> list[str]:
    """The Schadefonds' steps on her application, for its first daily file."""
    return [_fund(1, "AANVRAAG_ONTVANGEN", "2026-04-02T11:00:00+02:00"),
            _fund(2, "BESLISSING", "2026-08-12T10:00:00+02:00",
                  "<Beslissing><Toegekend>true</Toegekend><Bedrag>1200.00</Bedrag>"
                  "<Beslisdatum>2026-08-11</Beslisdatum></Beslissing>")]


def _cjib(n: int, soort: str, tijdstip: str, datum: str, betaling: str = "") -> str:
    return (f"<Slachtofferinformatie><BerichtId>CJIB-DEMO-VOORBEELD-{n}</BerichtId>"
            f"<Parketnummer>{PARKETNUMMER}</Parketnummer><Soort>{soort}</Soort><Tijdstip>{tijdstip}</Tijdstip>"
            f"<Datum>{datum}</Datum><Veroordeelde><Bsn>{SUSPECT['bsn']}</Bsn><Naam>T. {SUSPECT['geslachtsnaam']}"
            f"</Naam><Geboortedatum>{SUSPECT['geboortedatum']}</Geboortedatum><Verblijfadres>{_ADRES}</Verblijfadres>"
            f"</Veroordeelde><Slachtoffer><Bsn>{BSN}</Bsn><Naam>V. Voorbeeld</Naam><Informatiewens>true"
            f"</Informatiewens>{betaling}</Slachtoffer></Slachtofferinformatie>")


def cjib_events() -> list[str]:
    """CJIB's information on the judgment and the compensation, for one call to the hub's service."""
    return [_cjib(1, "VONNIS_ONHERROEPELIJK", "2026-07-02T07:00:00+02:00", "2026-07-02"),
            _cjib(2, "SCHADEVERGOEDING_BETALING", "2026-09-01T06:00:00+02:00", "2026-08-31",
                  "<Betaling><BetaaldBedrag>600.00</BetaaldBedrag><OpenstaandBedrag>1250.00</OpenstaandBedrag>"
                  "</Betaling>")]
