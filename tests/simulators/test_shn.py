"""The SHN simulator keeps its side of the contract (openapi.yaml): the token endpoint's client
authentication, grant and scope, the feed's token, pace, parameters and opaque cursor."""
import base64

import pytest
import requests

from ketenhub.settings import HUB_OIN
from ketenhub.simulators.shn import SCOPE, ShnSimulator, cursor
from tests.conftest import requests_tls


@pytest.fixture
def shn():
    sim = ShnSimulator(rate_limit_seconds=0).start()
    yield sim
    sim.stop()


def token(sim, secret="shn-demo-geheim", client=HUB_OIN, **form):
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    return requests.post(f"{sim.url}/oauth2/token", data={"grant_type": "client_credentials", "scope": SCOPE, **form},
                         headers={"Authorization": f"Basic {basic}"}, **requests_tls(sim))


def page(sim, bearer, **params):
    return requests.get(f"{sim.url}/shn/v1/gebeurtenissen", params=params,
                        headers={"Authorization": f"Bearer {bearer}"}, **requests_tls(sim))


def test_a_token_for_the_hubs_oin_and_secret_only(shn):
    assert token(shn, secret="fout").status_code == 401
    assert token(shn, client="00000099000000010000").json() == {"error": "invalid_client"}
    assert token(shn, grant_type="password").json() == {"error": "unsupported_grant_type"}
    assert token(shn, scope="alles").json() == {"error": "invalid_scope"}
    answer = token(shn)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json()["token_type"] == "Bearer" and answer.json()["expires_in"] == 300


def test_pages_from_the_cursor_with_more_and_refusals_as_the_contract_says(shn):
    shn.add(5)
    bearer = token(shn).json()["access_token"]
    assert page(shn, "ongeldig").status_code == 401
    first = page(shn, bearer, max=3).json()
    assert len(first["gebeurtenissen"]) == 3 and first["meerBeschikbaar"] is True
    second = page(shn, bearer, vanaf=first["volgende"], max=3).json()
    assert len(second["gebeurtenissen"]) == 2 and second["meerBeschikbaar"] is False
    assert second["volgende"] == cursor(5)
    assert page(shn, bearer, max=1001).status_code == 400
    assert page(shn, bearer, vanaf="zelfgemaakt").status_code == 400
    shn.forget(4)
    assert page(shn, bearer, vanaf=first["volgende"]).status_code == 410  # before the oldest event held


def test_more_than_one_request_a_second_gets_429_with_retry_after(shn):
    shn.rate_limit_seconds = 60
    bearer = token(shn).json()["access_token"]
    assert page(shn, bearer).status_code == 200
    answer = page(shn, bearer)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_without_a_client_certificate_no_connection(shn):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{shn.url}/shn/v1/gebeurtenissen", verify=str(shn.pki.ca_file))
