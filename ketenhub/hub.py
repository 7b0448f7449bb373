"""The hub's context: settings, adapter definitions and the database, created lazily."""
from __future__ import annotations

import os
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from ketenhub import adapters, settings as settings_module
from ketenhub.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine


class Hub:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or settings_module.load()
        # What the hub's processes write (database, kept payloads, drop and work folders) holds
        # personal data or secrets: readable by the hub's own user only, whichever code writes it.
        os.umask(0o077)
        if self.settings.ketenreferentie_key is None:
            from ketenhub import keys
            self.settings = replace(self.settings, ketenreferentie_key=keys.read())
        if self.settings.ketenreferentie_key is not None:
            from ketenhub.xml import xslt
            xslt.use_key(self.settings.ketenreferentie_key)
        if self.settings.case_register is not None:
            from ketenhub.xml import xslt
            xslt.use_register(self.settings.case_register)

    @cached_property
    def registry(self) -> adapters.Registry:
        return adapters.load(self.settings)

    @cached_property
    def engine(self) -> Engine:
        from ketenhub.store import db  # SQLAlchemy only where there is a database: not in a worker
        return db.engine(self.settings.database_url)
