"""Airflow's metadata database for a test, as ``airflow db migrate`` leaves a new one. On SQLite
it is migrated once per test process and copied for each test, since a migration takes seconds."""
from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ketenhub.settings import PROJECT_DIR

_template: Path | None = None  # a SQLite database migrated once, copied from then on


def migrated(env: dict) -> None:
    """The database that ``env`` names (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), migrated as
    ``airflow db migrate`` with ``env`` migrates it."""
    global _template
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if not url.startswith("sqlite:///"):
        return _migrate(env)
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="ketenhub-airflow-db-"))
        atexit.register(shutil.rmtree, folder, True)
        _migrate({**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{folder / 'airflow.db'}"})
        assert not (folder / "airflow.db-wal").exists()  # all of it in the one file that is copied
        _template = folder / "airflow.db"
    target = Path(url.removeprefix("sqlite:///"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template, target)


def _migrate(env: dict) -> None:
    r = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], cwd=PROJECT_DIR, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
