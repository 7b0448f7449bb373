"""A copy of the project's definitions (adapters, schemas, mappings, samples, golden files) in a
temporary folder, for tests that add a partner as an integration engineer would."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from ketenhub import settings

ROOT = Path(__file__).resolve().parents[2]


def copy_project(to: Path) -> Path:
    for folder in ("adapters", "schemas", "mappings", "tests/data", "tests/mappings/golden"):
        shutil.copytree(ROOT / folder, to / folder)
    shutil.copy(ROOT / "tests/mappings/regenerate.py", to / "tests/mappings/regenerate.py")
    shutil.copy(ROOT / "tests/__init__.py", to / "tests/__init__.py")
    return to


def adapters_of_its_own(to: Path) -> Path:
    """A project whose adapters are a copy, for a test to change; schemas and mappings the checkout's."""
    shutil.copytree(ROOT / "adapters", to / "adapters")
    for folder in ("schemas", "mappings"):
        (to / folder).symlink_to(ROOT / folder)
    return to


def project_settings(project: Path, home: Path) -> settings.Settings:
    return replace(settings.load(), project=project, home=home)


def run_in(project: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    """``ketenhub ARGS`` (or a script, when args[0] ends in .py) on the copy, as a real process."""
    env = dict(os.environ, KETENHUB_PROJECT=str(project), KETENHUB_HOME=str(home or project / "home"))
    command = [sys.executable, *args] if args[0].endswith(".py") else [sys.executable, "-m", "ketenhub.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=project)
