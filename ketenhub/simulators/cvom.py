"""CVOM's side: one BeroepGebeurtenis per file in the hub's drop folder, written under
``<name>.part`` and renamed once complete, as CVOM's writers do."""
from __future__ import annotations

from pathlib import Path

from ketenhub.simulators.generate import Generator


def drop(folder: Path, generator: Generator, n: int, invalid: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"CVOM_{n:09d}.xml"
    part = final.with_name(final.name + ".part")
    part.write_text(generator.beroep(n, invalid), encoding="utf-8")
    part.rename(final)
    return final


def publish(folder: Path, events: int, start: int = 1, invalid_share: float = 0.0, seed: int = 1) -> list[Path]:
    """A day's appeal events at once (deterministic for a seed): CVOM_<n>.xml for each n."""
    generator = Generator(seed)
    folder.mkdir(parents=True, exist_ok=True)
    return [drop(folder, generator, n, generator.r.random() < invalid_share) for n in range(start, start + events)]
