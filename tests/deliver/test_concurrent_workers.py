"""Two delivery workers at once (real processes) never send the same delivery twice."""
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from ketenhub.simulators.kbsp import KbspSimulator
from ketenhub.store.tables import delivery
from tests.conftest import ingest
from tests.support.factories import om_batch, om_event, write_with_marker

pytestmark = pytest.mark.usefixtures("before_kbsp_switch")  # KbSP v1 until 2027-03-01


@pytest.mark.timeout(300)
def test_two_workers_share_the_work_and_send_nothing_twice(hub, tmp_path):
    n = 2600
    ingest(hub, "om", write_with_marker(tmp_path / "OM_ZAAKGEBEURTENISSEN_20261120_001.xml",
                                        om_batch([om_event(i) for i in range(n)])))
    portal = KbspSimulator(store=tmp_path / "portal").start()
    # Slow calls: one worker alone would need ~9 s for the 6 batches, far longer than the other
    # takes to start (with 0.2 s, a quick first worker sometimes sent everything on its own).
    portal.misbehave(delay=1.5)
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url,
               AIRFLOW_CONN_KETENHUB_KBSP=json.dumps(portal.connection()))
    workers = [subprocess.Popen([sys.executable, "-m", "ketenhub.cli", "deliver", "--destination", "kbsp"], env=env,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    delivered = [int(o.split("kbsp: ")[1].split(" delivered")[0]) for o in outputs]
    assert sum(delivered) == n and min(delivered) > 0, delivered  # both worked, together everything once
    assert sum(portal.items_per_call) == n and portal.duplicates == 0 and len(portal.accepted) == n
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(delivery).where(delivery.c.state == "delivered")) == n
    portal.stop()
