"""Airflow's metadata database on SQLite for a test, as ``airflow db migrate`` leaves a new one:
migrated once per test process and copied for each test, since a migration takes seconds."""
from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ketenhub.settings import PROJECT_DIR

_made: dict[str, Path] = {}  # the migrated template, once made


def migrated(env: dict) -> None:
    """The SQLite database that ``env`` names (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), migrated as
    ``airflow db migrate`` with ``env`` migrates it."""
    target = Path(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    if "template" not in _made:
        folder = Path(tempfile.mkdtemp(prefix="ketenhub-airflow-db-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "airflow.db"
        r = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], cwd=PROJECT_DIR,
                           env={**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{template}"},
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        assert not template.with_name("airflow.db-wal").exists()  # all of it in the one file that is copied
        _made["template"] = template
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_made["template"], target)
