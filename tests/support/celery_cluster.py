"""Airflow on its CeleryExecutor, on this machine: Redis at 127.0.0.1:6379 as the broker (on a
queue of this cluster's own), a PostgreSQL database of its own for Airflow's metadata, the
scheduler, dag processor and API server, and named Celery workers, each of which can be killed
with everything it started, as a machine that goes down."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text

from ketenhub.settings import PROJECT_DIR
from tests.support.airflow_server import AirflowServer, _signal_group

ADMIN_URL = os.environ.get("KETENHUB_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
BROKER = os.environ.get("KETENHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")


def worker_name() -> str:
    """Airflow's hostname_callable here: the Celery worker a task ran on, in the task instance."""
    return os.environ.get("KETENHUB_WORKER_NAME") or socket.getfqdn()


class CeleryCluster:
    def __init__(self, workdir: Path, hub_env: dict, workers=("w1", "w2"), concurrency: int = 1):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir, self.database = workdir, f"airflow_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{self.database}"')
        base = ADMIN_URL.rsplit("/", 1)[0]
        self.queue = f"ketenhub-{self.database}"
        env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{base}/{self.database}",
            "AIRFLOW__CELERY__BROKER_URL": BROKER,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{base}/{self.database}",  # psycopg2, as SQLAlchemy's default is psycopg 3
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
            # A killed worker's tasks are found by their missing heartbeats, soon.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.support.celery_cluster.worker_name",
            "PYTHONPATH": str(PROJECT_DIR),
            **hub_env,
        }
        try:
            self.server = AirflowServer(workdir, env, components=("api-server", "scheduler", "dag-processor"))
        except BaseException:
            self._drop()
            raise
        self.workers: dict[str, subprocess.Popen] = {}
        try:
            for name in workers:
                self.start_worker(name, concurrency)
            for name in workers:
                self.wait_ready(name)
        except BaseException:
            self.stop()
            raise

    def start_worker(self, name: str, concurrency: int = 1) -> None:
        self.workers[name] = subprocess.Popen(
            ["airflow", "celery", "worker", "--queues", self.queue, "--concurrency", str(concurrency),
             "--celery-hostname", f"{name}@%h", "--skip-serve-logs"],
            env={**self.server.env, "KETENHUB_WORKER_NAME": name}, cwd=PROJECT_DIR,
            stdout=open(self.workdir / f"worker-{name}.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, name: str, timeout: float = 180) -> None:
        """Until the worker consumes from the queue: one started later on a loaded machine would
        otherwise watch the other take every task given before it is up."""
        log = self.workdir / f"worker-{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.workers[name].poll() is not None:
                raise RuntimeError(f"Celery worker {name} exited ({self.workers[name].returncode}); see {log}")
            if re.search(rb"\b%s@\S+ ready\." % name.encode(), log.read_bytes()):  # Celery's "w1@host ready."
                return
            time.sleep(0.5)
        raise RuntimeError(f"Celery worker {name} not ready after {timeout:.0f} s; see {log}")

    def pids(self, name: str) -> set[int]:
        """The worker's process and all it started: its pool, the tasks' supervisors and tasks."""
        root = psutil.Process(self.workers[name].pid)
        return {root.pid, *(p.pid for p in root.children(recursive=True))}

    def kill(self, name: str) -> None:
        """SIGKILL to the worker and everything it started: no clean-up, no goodbye to the broker."""
        _signal_group(self.workers[name], signal.SIGKILL)
        self.workers[name].wait()

    def stop(self) -> None:
        for p in self.workers.values():
            _signal_group(p, signal.SIGTERM)
        for p in self.workers.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(p, signal.SIGKILL)
            p.wait()
        self.server.stop()
        self._drop()

    def _drop(self) -> None:
        """Airflow's database, and what the queue left at the broker (kombu's bindings)."""
        self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        import redis
        broker = redis.Redis.from_url(BROKER)
        try:
            keys = list(broker.scan_iter(match=f"*{self.queue}*"))
            if keys:
                broker.delete(*keys)
        finally:
            broker.close()

    @staticmethod
    def _admin(sql: str) -> None:
        engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()
