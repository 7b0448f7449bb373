"""`ketenhub serve` as an operator starts it: a process of its own, its Connection from the
environment, answering CJIB over two-way TLS; and the contract's envelope layout, signed for
real, is taken as it is."""
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from ketenhub.protocols import wssecurity
from ketenhub.settings import PROJECT_DIR
from ketenhub.simulators.cjib_push import PATH, CjibClient, connection_extra, event, request
from ketenhub.simulators.tls import default_pki
from tests.support.cjib import serving
from tests.support.sshd import free_port

LAYOUT = PROJECT_DIR / "schemas" / "cjib" / "examples" / "envelope-layout.xml"


@pytest.fixture
def served(hub):
    pki, port = default_pki(), free_port()
    env = dict(os.environ, KETENHUB_HOME=str(hub.settings.home), KETENHUB_DATABASE_URL=hub.settings.database_url,
               AIRFLOW_CONN_KETENHUB_SERVE=json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port,
                                                       "extra": json.dumps(connection_extra(pki))}))
    env.pop("AIRFLOW_CONN_KETENHUB_AIRFLOW_API", None)
    process = subprocess.Popen([sys.executable, "-m", "ketenhub.cli", "serve"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    said = []
    for line in process.stdout:  # the address is printed once it listens; warnings may come first
        said.append(line)
        if f":{port}{PATH}" in line or len(said) > 50:
            break
    assert f":{port}{PATH}" in said[-1], "".join(said)
    yield CjibClient(f"https://127.0.0.1:{port}{PATH}", pki)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)


def test_ketenhub_serve_answers_cjib(hub, served):
    assert served.call(request([event("CJIB-CLI-1")])).results == [("CJIB-CLI-1", "ONTVANGEN", None)]
    assert served.call(request([event("CJIB-CLI-1")])).results == [("CJIB-CLI-1", "DUPLICAAT", None)]


def test_the_contracts_envelope_layout_signed_for_real_is_taken(hub, connection):
    root = etree.parse(str(LAYOUT)).getroot()
    security = root.find(".//wsse:Security", wssecurity.NS)
    for placeholder in security.xpath("ds:Signature | wsse:BinarySecurityToken", namespaces=wssecurity.NS):
        security.remove(placeholder)
    now = datetime.now(timezone.utc)
    root.find(".//wsu:Created", wssecurity.NS).text = wssecurity.utc(now)
    root.find(".//wsu:Expires", wssecurity.NS).text = wssecurity.utc(now + timedelta(minutes=5))
    with serving(hub, connection) as (service, cjib):
        data = wssecurity.sign(root, cjib._credentials(cjib.oin))  # its own wsu:Ids, namespaces and layout
        answer = cjib.answer(data, *cjib.send(data))
    assert answer.results == [("CJIB-SI-2027-000101", "ONTVANGEN", None)]
