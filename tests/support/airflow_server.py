"""A real Airflow API server (with the project's airflow.cfg, DAGs and plugin) on a free port,
its state in a scratch folder, users of each Simple auth manager role."""
from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from ketenhub.settings import PROJECT_DIR
from tests.support.airflow_db import migrated
from tests.support.sshd import free_port

_CFG = configparser.ConfigParser(interpolation=None)
_CFG.read(PROJECT_DIR / "airflow.cfg")
# name: role, as the project's airflow.cfg gives them: the tests check the demo's own accounts
USERS = dict(u.split(":") for u in _CFG.get("core", "simple_auth_manager_users").split(","))


class AirflowServer:
    """Its DAGs start paused: a scheduler runs only what a test unpauses (``unpause``). With
    every DAG's latest interval starting at once, a task's call to the execution API once
    timed out on a cold machine, and a triggered run queued behind that run's retry delay
    (max_active_runs=1)."""

    def __init__(self, workdir: Path, extra_env: dict | None = None, components=("api-server",)):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ, AIRFLOW_HOME=str(PROJECT_DIR),
            PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{workdir / 'airflow.db'}",
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(workdir / "logs"),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(workdir / "passwords.json"),
            AIRFLOW__API_AUTH__JWT_SECRET="test-secret-" + "x" * 40, AIRFLOW__API__SECRET_KEY="test-" + "y" * 40,
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            AIRFLOW__API__PORT=str(self.port), AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            # the scheduler's and triggerer's log servers, not on their fixed ports: a hub
            # started on this machine (./hub start) has those
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()))
        self.env.pop("KETENHUB_DATABASE_URL", None)
        self.env.update(extra_env or {})
        migrated(self.env)
        r = subprocess.run(["airflow", "dags", "reserialize"], env=self.env, cwd=PROJECT_DIR, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        self.processes = [subprocess.Popen(["airflow", c] + (["--port", str(self.port)] if c == "api-server" else []),
                                           env=self.env, cwd=PROJECT_DIR, stdout=open(workdir / f"{c}.log", "wb"),
                                           stderr=subprocess.STDOUT, start_new_session=True)
                          for c in components]
        for _ in range(240):
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("api-server did not start: " + (workdir / "api-server.log").read_text()[-3000:])
        self.passwords = json.loads((workdir / "passwords.json").read_text())

    def session(self, user: str) -> requests.Session:
        s = requests.Session()
        r = s.post(f"{self.url}/auth/token", json={"username": user, "password": self.passwords[user]})
        assert r.status_code == 201, r.text
        s.cookies.set("_token", r.json()["access_token"])
        return s

    def unpause(self, dag_id: str) -> None:
        """As soon as the dag processor has parsed ``dag_id``. The scheduler then starts the run
        of its latest interval."""
        api = self.session("admin")
        for _ in range(120):
            if api.patch(f"{self.url}/api/v2/dags/{dag_id}", json={"is_paused": False}).status_code == 200:
                return
            time.sleep(1)
        raise RuntimeError(f"{dag_id} was not parsed within 120 s")

    def stop(self):
        """Each component with what it started (the scheduler's log server and executor
        workers), by process group: they outlived the scheduler and held its ports."""
        for p in self.processes:
            _signal_group(p, signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(p, signal.SIGKILL)
            p.wait()


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
