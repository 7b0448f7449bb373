"""The import graph: stages flow one way, and the toolkit imports no stage (the contracts are in
pyproject.toml, checked by import-linter)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()"], cwd=project, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"})


def test_the_stages_flow_one_way():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_an_import_back_up_the_flow_is_caught(tmp_path):
    shutil.copytree(ROOT / "ketenhub", tmp_path / "ketenhub", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    folder = tmp_path / "ketenhub/receive/folder.py"
    folder.write_text(folder.read_text() + "\nfrom ketenhub.store import inbound  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1 and "Stages flow one way BROKEN" in done.stdout
    assert "ketenhub.receive.folder -> ketenhub.store.inbound" in done.stdout
