"""Where the hub keeps its state and finds its definitions.

All state (database, payloads, quarantine, folder outboxes) lives under KETENHUB_HOME, so
several independent hubs can run side by side. Definitions (adapters/, schemas/,
mappings/) live in the project directory, KETENHUB_PROJECT, by default the checkout that
holds this package. KETENHUB_WORKERS (default: the number of cores) sets how many processes
work on a big payload's events.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
HUB_OIN = "00000099000000099000"


@dataclass(frozen=True)
class Settings:
    home: Path
    project: Path
    database_url: str
    workers: int = 1  # processes that validate, normalise and route a big payload's events
    # The Ketenreferentie's secret (keys.read): read by Hub, once per process; handed to workers
    # with the rest, as they cannot ask Airflow.
    ketenreferentie_key: str | None = field(default=None, repr=False)

    @property
    def adapters_dir(self) -> Path:
        return self.project / "adapters"

    @property
    def schemas_dir(self) -> Path:
        return self.project / "schemas"

    @property
    def mappings_dir(self) -> Path:
        return self.project / "mappings"

    @property
    def payloads_dir(self) -> Path:
        return self.home / "payloads"

    def path(self, relative: str | Path) -> Path:
        """A folder named in an adapter definition, relative to the hub's home."""
        return self.home / relative


def load() -> Settings:
    home = Path(os.environ.get("KETENHUB_HOME") or PROJECT_DIR / "var" / "hub").resolve()
    project = Path(os.environ.get("KETENHUB_PROJECT") or PROJECT_DIR).resolve()
    url = os.environ.get("KETENHUB_DATABASE_URL") or f"sqlite:///{home / 'ketenhub.db'}"
    workers = int(os.environ.get("KETENHUB_WORKERS") or os.cpu_count() or 1)
    return Settings(home=home, project=project, database_url=url, workers=workers)
