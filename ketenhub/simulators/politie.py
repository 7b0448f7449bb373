"""The police's MeldingenService: a queue of meldingen, handed out in order from a Volgnummer,
kept until confirmed (so a melding not confirmed is handed out again when asked again)."""
from __future__ import annotations

import time
from typing import Callable

from lxml import etree

from ketenhub.simulators.generate import Generator
from ketenhub.simulators.soap import SoapSimulator

NS = "urn:keten:politie:slachtoffermelding:v1"


class PolitieSimulator(SoapSimulator):
    contract, wsdl, xsd = "politie", "MeldingenService-v1.wsdl", "slachtoffermelding-v1.xsd"
    path = "/politie/meldingen/v1"
    oin = "00000099000000010000"

    def __init__(self, port: int = 0, seed: int = 1, **tls):
        super().__init__(port, **tls)
        self.generator = Generator(seed)
        self.queue: dict[int, bytes] = {}  # Volgnummer -> Melding
        self.confirmed = 0
        self.handed_out: list[int] = []
        self.last_page: list[bytes] = []
        self.repeat_page = 0  # misbehaviour: hand out the last page again, N times, saying there is more
        self.endless = 0  # misbehaviour: N more pages, each made up as it is asked for, saying there is more
        self.available_at: dict[str, float] = {}  # BerichtId -> when it could first be asked for (freshness)

    def add(self, count: int) -> list[str]:
        """Queue new meldingen; returns their BerichtIds."""
        with self.lock:
            start = max(self.queue, default=self.confirmed) + 1
            for n in range(start, start + count):
                self.queue[n] = self.generator.melding(n).encode()
            ids = [f"POL-{n:09d}" for n in range(start, start + count)]
            at = time.time()
            self.available_at.update((i, at) for i in ids)
            return ids

    def add_melding(self, make: Callable[[int], str]) -> int:
        """Queue one melding that ``make`` writes for the Volgnummer it is given; returns that Volgnummer."""
        with self.lock:
            n = max(self.queue, default=self.confirmed) + 1
            self.queue[n] = make(n).encode()
            return n

    def operation(self, name, request):
        with self.lock:
            if name == "HaalMeldingen":
                vanaf = int(request.findtext(f"{{{NS}}}VanafVolgnummer"))
                maximum = int(request.findtext(f"{{{NS}}}MaxAantal"))
                if self.repeat_page and self.last_page:
                    self.repeat_page -= 1
                    return _answer(self.last_page, True)
                if self.endless and len([n for n in self.queue if n > vanaf]) <= maximum:
                    self.endless -= 1
                    self.add(maximum + 1)
                numbers = sorted(n for n in self.queue if n > vanaf)
                page = numbers[:maximum]
                self.handed_out += page
                self.last_page = [self.queue[n] for n in page]
                return _answer(self.last_page, len(numbers) > maximum)
            tot = int(request.findtext(f"{{{NS}}}TotEnMetVolgnummer"))
            for n in [n for n in self.queue if n <= tot]:
                del self.queue[n]
            self.confirmed = max(self.confirmed, tot)
            answer = etree.Element(f"{{{NS}}}BevestigOntvangstAntwoord", nsmap={None: NS})
            etree.SubElement(answer, f"{{{NS}}}Bevestigd").text = "true"
            return answer

    def misbehave(self, **kw) -> None:
        for k in ("repeat_page", "endless"):
            if k in kw:
                with self.lock:
                    setattr(self, k, kw.pop(k))
        super().misbehave(**kw)

    def state(self):
        return {"waiting": len(self.queue), "confirmed_up_to": self.confirmed,
                "handed_out": len(self.handed_out)}


def _answer(meldingen: list[bytes], more: bool) -> bytes:
    """A HaalMeldingenAntwoord of these meldingen, as bytes: a page of them parsed only to be
    written out again cost the simulator more than the rest of its answer, and the hub waits for it."""
    return b"".join([f'<HaalMeldingenAntwoord xmlns="{NS}">'.encode(), *meldingen,
                     f"<MeerBeschikbaar>{str(more).lower()}</MeerBeschikbaar></HaalMeldingenAntwoord>".encode()])
