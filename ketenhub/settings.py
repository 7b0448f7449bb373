"""Where the hub keeps its state and finds its definitions.

All state (database, payloads, quarantine, folder outboxes) lives under KETENHUB_HOME, so
several independent hubs can run side by side. Definitions (adapters/, schemas/,
mappings/) live in the project directory, KETENHUB_PROJECT, by default the checkout that
holds this package. KETENHUB_WORKERS (default: the number of cores) sets how many processes
work on a big payload's events; ``Tuning`` has the fast path's other knobs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
HUB_OIN = "00000099000000099000"


@dataclass(frozen=True)
class Tuning:
    """The fast path's knobs. Each trades one thing for another; the defaults suit a nightly
    file of a million events on two cores (docs/performance.md). Set one with
    ``KETENHUB_<NAME>``, e.g. ``KETENHUB_REGION_EVENTS=1000``."""

    region_events: int = 500
    """Events parsed, validated and mapped together: more spreads each call's fixed cost
    thinner, and holds more in a worker's memory."""

    region_bytes: int = 8 << 20
    """Bytes of a region at most, besides one event: bounds a worker's memory when events are
    large, at the cost of more calls."""

    transaction_events: int = 2000
    """Events stored per transaction: more means fewer commits, each rewriting the last page of
    every table and index, and a longer transaction."""

    parallel_from: int = 5000
    """Events in a payload from which worker processes take part: below it, starting them
    costs more than they save."""

    start_workers_from_bytes: int = 3 << 20
    """Payload size from which the workers start before the first pass, to be ready when it
    ends; about ``parallel_from`` of the OM's events."""

    regions_ahead: int = 4
    """Regions per worker handed out before its first result is taken: more keeps the workers
    busy while the parent commits, and holds more in memory."""

    page_region_events: int = 125
    """Events per region of a feed's page (the Politie's SOAP pages of 1,000): fewer than a
    file's, so that a page is several regions for each worker, and one whose core is busier
    (with the hub's own process, say) takes fewer of them (``Workers.map``)."""

    page_regions_ahead: int = 2
    """``regions_ahead`` for a feed's page: more hands a page's regions out all at once, as
    many to each worker, whatever their speed."""

    results_waiting: int = 32
    """Results the parent may leave waiting while it stores: more rides out a long checkpoint,
    and holds more in memory."""

    analyse_from: int = 8000
    """Events stored before the planner's statistics are first refreshed (then at every
    doubling): too late, and the planner reads a growing table by the wrong index."""

    drop_behind_bytes: int = 64 << 20
    """Bytes of a kept payload read before its pages are dropped from the page cache, which the
    store's growing files can then use."""

    group_payloads: int = 256
    """Small payloads ready together (a drop folder's files) stored in one transaction: more
    means fewer commits and syncs, and holds more processed events in memory; 1 turns it off."""

    group_payload_bytes: int = 256 << 10
    """A payload up to this size may join a group; a larger one is stored on its own."""

    group_bytes: int = 16 << 20
    """Bytes of payloads in one group at most: bounds the memory a group holds."""

    @classmethod
    def from_environment(cls) -> "Tuning":
        values = {f.name: int(os.environ[f"KETENHUB_{f.name.upper()}"]) for f in fields(cls)
                  if os.environ.get(f"KETENHUB_{f.name.upper()}")}
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    home: Path
    project: Path
    database_url: str
    workers: int = 1  # processes that validate, normalise and route a big payload's events
    tuning: Tuning = field(default_factory=Tuning)
    # The Ketenreferentie's secret (keys.read): read by Hub, once per process; handed to workers
    # with the rest, as they cannot ask Airflow.
    ketenreferentie_key: str | None = field(default=None, repr=False)
    # A snapshot of the register of cases (store.cases), handed to workers, which have no database.
    case_register: dict | None = field(default=None, repr=False, compare=False)

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
    return Settings(home=home, project=project, database_url=url, workers=workers, tuning=Tuning.from_environment())
