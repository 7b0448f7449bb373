"""The hub's context: settings, adapter definitions and the database, created lazily."""
from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine

from ketenhub import adapters, settings as settings_module
from ketenhub.settings import Settings
from ketenhub.store import db


class Hub:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or settings_module.load()

    @cached_property
    def registry(self) -> adapters.Registry:
        return adapters.load(self.settings)

    @cached_property
    def engine(self) -> Engine:
        return db.engine(self.settings.database_url)
