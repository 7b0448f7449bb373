"""The victim portal's SlachtofferInformatieService, versions 1 and 2, each at its own path:
accepts Zaakstatus items, answers per item (GEACCEPTEERD, DUPLICAAT for a BerichtId it already
has through either version, AFGEWEZEN, TIJDELIJK_NIET_VERWERKT), and keeps every accepted item
as a file named by its BerichtId.

From the switch date (``switch``, by the hub's clock, so that tests can set it) v1 answers every
Zaakstatus AFGEWEZEN with Reden VERSIE_BUITEN_GEBRUIK. v2 refuses a status that lacks a detail
its Status needs, or whose Voorwaarde looks like it holds an address, as the contract says.

``GET /_sim/timeline?bsn=...`` (or ``?ketenreferentie=...``) shows people what it accepted about
one victim, oldest first, under each Ketenreferentie: the timeline the portal shows them."""
from __future__ import annotations

import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from lxml import etree

from ketenhub import clock
from ketenhub.simulators.soap import SoapSimulator
from ketenhub.xml.parsing import parser

NS = "urn:keten:kbsp:zaakstatus:v1"
NS2 = "urn:keten:kbsp:zaakstatus:v2"
V2 = "/kbsp/slachtofferinformatie/v2"
SWITCH = datetime(2027, 2, 28, 23, 0, tzinfo=timezone.utc)  # 2027-03-01 00:00 Europe/Amsterdam
# What each v2 status needs besides the v1 elements.
NEEDS = {
    "HULP_AANGEBODEN": ("Hulpverlener",), "HULP_GESTART": ("Hulpverlener",), "HULP_AFGESLOTEN": ("Hulpverlener",),
    "SCHADEFONDS_BESLISSING": ("Schadefondsbeslissing", "Datum"), "VONNIS_ONHERROEPELIJK": ("Datum",),
    "INVRIJHEIDSTELLING": ("Datum",), "VERLOF": ("Datum",), "BESCHERMINGSMAATREGEL_OPGELEGD": ("Datum", "Voorwaarden"),
    "SCHADEVERGOEDING_BETAALD": ("Datum", "Betaling"), "VOORSCHOT_UITGEKEERD": ("Datum", "Voorschot"),
}
POSTCODE = re.compile(r"\d{4}\s?[A-Z]{2}")


class KbspSimulator(SoapSimulator):
    contract, wsdl, xsd = "kbsp", "SlachtofferInformatieService-v1.wsdl", "zaakstatus-v1.xsd"
    path = "/kbsp/slachtofferinformatie/v1"
    oin = "00000099000000040000"

    def __init__(self, port: int = 0, store: Path | None = None, keep_files: bool = True,
                 switch: datetime = SWITCH, **tls):
        super().__init__(port, **tls)
        self.serve(V2, "SlachtofferInformatieService-v2.wsdl", "zaakstatus-v2.xsd")
        self.switch = switch
        self.keep_files = keep_files  # off for the benchmark: a million small files
        self.store = Path(store or tempfile.mkdtemp(prefix="kbsp-"))
        self.store.mkdir(parents=True, exist_ok=True)
        self.accepted: dict[str, bytes] = {}  # one register of BerichtIds for both versions
        self.versions: dict[str, str] = {}  # BerichtId -> the version it was accepted through
        self.duplicates = 0
        self.refused: dict[str, str] = {}  # BerichtId -> Reden
        self.items_per_call: list[int] = []
        self.accepted_at: dict[str, float] = {}  # BerichtId -> when it was accepted (freshness)
        if keep_files:  # a portal started again still knows what it accepted before, as the real one does
            for path in self.store.glob("*.xml"):
                item = path.read_bytes()
                self.accepted[path.stem] = item
                self.versions[path.stem] = "v2" if NS2.encode() in item else "v1"

    def connections(self, **extra) -> dict[str, dict]:
        """The hub's Connections for both versions: ketenhub_kbsp (v1) and ketenhub_kbsp_v2."""
        v2 = self.connection(**extra)
        v2["host"] = self.url + V2
        return {"kbsp": self.connection(**extra), "kbsp_v2": v2}

    def operation(self, name, request):
        return self._publish(NS, request)

    def operation_at(self, path, name, request):
        return self._publish(NS2, request) if path == V2 else self.operation(name, request)

    def _publish(self, ns: str, request: etree._Element) -> etree._Element:
        answer = etree.Element(f"{{{ns}}}PubliceerZaakstatusAntwoord", nsmap={None: ns})
        retired = ns == NS and clock.now() >= self.switch
        with self.lock:
            self.items_per_call.append(len(request))
            for item in request:
                bericht_id = item.findtext(f"{{{ns}}}BerichtId")
                reden = None
                if retired:
                    code, reden = "AFGEWEZEN", "VERSIE_BUITEN_GEBRUIK"
                elif bericht_id in self.misbehaviour.refuse:
                    code, reden = "AFGEWEZEN", "onbekend slachtoffer"
                elif ns == NS2 and (reden := _lacking(item)):
                    code = "AFGEWEZEN"
                elif self.take("busy_next"):
                    code = "TIJDELIJK_NIET_VERWERKT"
                elif bericht_id in self.accepted:
                    code = "DUPLICAAT"
                    self.duplicates += 1
                else:
                    code = "GEACCEPTEERD"
                    self.accepted[bericht_id] = etree.tostring(item)
                    self.versions[bericht_id] = "v2" if ns == NS2 else "v1"
                    self.accepted_at[bericht_id] = time.time()
                    if self.keep_files:
                        (self.store / f"{bericht_id}.xml").write_bytes(etree.tostring(
                            item, xml_declaration=True, encoding="UTF-8"))
                if code == "AFGEWEZEN":
                    self.refused[bericht_id] = reden
                result = etree.SubElement(answer, f"{{{ns}}}Resultaat")
                etree.SubElement(result, f"{{{ns}}}BerichtId").text = bericht_id
                etree.SubElement(result, f"{{{ns}}}Code").text = code
                if reden:
                    etree.SubElement(result, f"{{{ns}}}Reden").text = reden
        return answer

    def timeline(self, bsn: str = "", ketenreferentie: str = "") -> dict[str, list[dict]]:
        """What the portal accepted about one victim (by BSN or Ketenreferentie), per
        Ketenreferentie, oldest first: the timeline it shows them. Bron of a v1 status is what
        the contract's v1-to-v2 rule gives it (POLITIE for AANGIFTE_ONTVANGEN, else OM)."""
        if not (bsn or ketenreferentie):
            return {}
        with self.lock:
            accepted = list(self.accepted.items())
        found: dict[str, list[dict]] = {}
        for bericht_id, data in accepted:
            item = etree.fromstring(data, parser())
            ns = etree.QName(item).namespace
            ref = item.findtext(f"{{{ns}}}Slachtoffer/{{{ns}}}Ketenreferentie")
            if (bsn and item.findtext(f"{{{ns}}}Slachtoffer/{{{ns}}}Bsn") != bsn) or ketenreferentie not in ("", ref):
                continue
            status = item.findtext(f"{{{ns}}}Status")
            tijdstip = item.find(f"{{{ns}}}Tijdstip")
            found.setdefault(ref, []).append({
                "tijdstip": tijdstip.text.strip(), "status": status, "berichtId": bericht_id,
                "bron": item.findtext(f"{{{ns}}}Bron") or ("POLITIE" if status == "AANGIFTE_ONTVANGEN" else "OM"),
                "zaak": {etree.QName(e).localname: (e.text or "").strip() for e in item.find(f"{{{ns}}}Zaak")},
                "details": {etree.QName(e).localname: _flat(e) for e in tijdstip.itersiblings()}})
        for entries in found.values():
            entries.sort(key=lambda e: _moment(e["tijdstip"]))
        return found

    def _control(self, h, method):
        url = urlsplit(h.path)
        if method == "GET" and url.path == "/_sim/timeline":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if not (query.get("bsn") or query.get("ketenreferentie")):
                return self.reply(h, 400, b"ask for one victim: /_sim/timeline?bsn=... or ?ketenreferentie=...\n")
            text = render(self.timeline(query.get("bsn", ""), query.get("ketenreferentie", "")))
            return self.reply(h, 200, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})
        return super()._control(h, method)

    def state(self):
        by_version = {v: sum(1 for x in self.versions.values() if x == v) for v in ("v1", "v2")}
        return {"accepted": len(self.accepted), "accepted_per_version": by_version, "duplicates": self.duplicates,
                "refused": len(self.refused), "store": str(self.store), "items_per_call": self.items_per_call[-20:],
                "switch": self.switch.isoformat(), "now": clock.now().isoformat()}


def _lacking(item: etree._Element) -> str | None:
    """Why v2 refuses a Zaakstatus the XSD lets through: a detail its Status needs is missing,
    a decision's Bedrag does not agree with Toegekend, or a Voorwaarde holds an address."""
    status = item.findtext(f"{{{NS2}}}Status")
    missing = [d for d in NEEDS.get(status, ()) if item.find(f"{{{NS2}}}{d}") is None]
    if missing:
        return f"{status} zonder {', '.join(missing)}"
    beslissing = item.find(f"{{{NS2}}}Schadefondsbeslissing")
    if beslissing is not None and ((beslissing.findtext(f"{{{NS2}}}Toegekend") or "").strip() in ("true", "1")) \
            != (beslissing.find(f"{{{NS2}}}Bedrag") is not None):
        return "Schadefondsbeslissing: Bedrag hoort bij Toegekend true, en alleen daarbij"
    for n, voorwaarde in enumerate(item.iterfind(f"{{{NS2}}}Voorwaarden/{{{NS2}}}Voorwaarde"), 1):
        if any(POSTCODE.search(t or "") for t in (voorwaarde.findtext(f"{{{NS2}}}Omschrijving"),
                                                  voorwaarde.findtext(f"{{{NS2}}}Gebied"))):
            return f"Voorwaarde {n} lijkt een adres te bevatten"
    return None


def _flat(element: etree._Element) -> str:
    """A detail element as one line: its text, or its children's names and texts."""
    if len(element) == 0:
        return (element.text or "").strip()
    return ", ".join(f"{etree.QName(c).localname} {_flat(c)}" for c in element)


def _moment(tijdstip: str) -> datetime:
    """A Zaakstatus's Tijdstip to compare; one without an offset is Dutch time."""
    moment = datetime.fromisoformat(tijdstip)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/Amsterdam"))


def render(timelines: dict[str, list[dict]]) -> str:
    """``KbspSimulator.timeline`` for people: a line per status, under its Ketenreferentie."""
    if not timelines:
        return "The portal accepted nothing about this victim (yet).\n"
    lines = []
    for ref, entries in timelines.items():
        sources = list(dict.fromkeys(e["bron"] for e in entries))
        lines.append(f"Ketenreferentie {ref}: {len(entries)} statuses from {len(sources)} sources "
                     f"({', '.join(sources)})")
        for e in entries:
            zaak = " / ".join(e["zaak"][k] for k in ("Parketnummer", "Registratienummer") if k in e["zaak"])
            details = "; ".join(f"{name} {value}" for name, value in e["details"].items())
            lines.append(f"  {e['tijdstip'][:16].replace('T', ' ')}  {e['bron']:<11}  {e['status']:<30}  "
                         f"{zaak:<34}  {details}".rstrip())
    return "\n".join(lines) + "\n"
