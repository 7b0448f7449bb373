"""The OAuth2 client's token renewed before a call, as authlib does it over requests: its
failures reach the feed in the hub's words, to be waited out like any other."""
import time

import pytest

from ketenhub.protocols.http import Tls
from ketenhub.protocols.oauth2 import ClientCredentialsClient, TokenUnavailable
from tests.support.sshd import free_port


def test_a_token_endpoint_gone_when_the_token_is_renewed_is_a_token_unavailable(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    closed = free_port()  # nobody listens on it
    client = ClientCredentialsClient(f"http://127.0.0.1:{closed}/token", "hub", "secret", None,
                                     Tls(plain_http=True), timeout=5, deadline=10, what="SHN")
    client.session.token = {"access_token": "old", "token_type": "Bearer", "expires_at": int(time.time()) - 10}
    with pytest.raises(TokenUnavailable, match=r"SHN token: no answer \(ConnectionError\)"):
        client.get(f"http://127.0.0.1:{closed}/feed", {}, "SHN feed")
