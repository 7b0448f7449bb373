"""OAuth 2.0 client credentials (RFC 6749 section 4.4) with authlib, over the hub's HTTP
(protocols.http): the same TLS from the Connection, no redirects, a deadline on every call, and
answers read up to a limit, the token endpoint's included.

The client authenticates with HTTP Basic (client_secret_basic). A token is reused until
``leeway`` seconds before it expires, then authlib fetches a new one before the call; on a 401
from the resource the caller asks for a new one once (``renew``)."""
from __future__ import annotations

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client import OAuthError

from ketenhub.protocols.http import (CHUNK, DEFAULT_ANSWER_MAX_BYTES, DEFAULT_DEADLINE_SECONDS, Answer, HttpClient, Tls,
                                     PlainHttpRefused, TlsRefused, _Deadline, _tls_refusal,
                                     read_bounded, retry_after_seconds)
from ketenhub.protocols.session import Adapter

TOKEN_ANSWER_MAX_BYTES = 64 * 1024  # a token answer is a few hundred bytes


class TokenRefused(Exception):
    """The token endpoint refused the hub's credentials or request (RFC 6749 section 5.2): a
    configuration error that trying again does not mend."""


class TokenUnavailable(Exception):
    """The token endpoint could not give a token now (429, 5xx): try again later."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Session(OAuth2Session):
    """authlib's session with the hub's transport adapter: TLS as the Connection says, no
    redirect, and the token endpoint's answer read up to a limit."""

    def __init__(self, tls: Tls, what: str, **kwargs):
        super().__init__(**kwargs)
        self.what, self.most_leeway = what, self.leeway
        adapter = Adapter(tls)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers["Accept-Encoding"] = "identity"

    def get_redirect_target(self, resp):
        return None

    def _fetch_token(self, url, body="", headers=None, auth=None, method="POST", **kwargs):
        what = f"{self.what} token"
        with self.post(url, data=body, headers=headers, auth=auth, withhold_token=True, stream=True,
                       allow_redirects=False, timeout=kwargs.get("timeout") or 30) as resp:
            if 300 <= resp.status_code < 400:
                raise TokenRefused(f"{what}: HTTP {resp.status_code} redirect; the hub follows no redirects")
            content = read_bounded(resp.status_code, resp.headers, resp.iter_content(CHUNK), TOKEN_ANSWER_MAX_BYTES,
                                   what)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TokenUnavailable(f"{what}: HTTP {resp.status_code}",
                                   retry_after_seconds(resp.headers.get("Retry-After")))
        resp._content = content
        try:
            token = self.parse_response_token(resp)
        except OAuthError as e:  # its error code only: a description may quote what was sent
            raise TokenRefused(f"{what}: refused with HTTP {resp.status_code}, OAuth error {e.error}") from None
        except ValueError:
            raise TokenRefused(f"{what}: HTTP {resp.status_code} without a token in the answer") from None
        lifetime = token.get("expires_in")
        # A token that lives shorter than the leeway is still used for half its life, not renewed at once.
        if isinstance(lifetime, (int, float)) and lifetime > 0:
            self.leeway = min(self.most_leeway, lifetime / 2)
        return token


class ClientCredentialsClient:
    """GETs from a resource with a bearer token from ``token_url``. ``what`` names the peer in errors."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None, tls: Tls,
                 timeout: float = 30, deadline: float = DEFAULT_DEADLINE_SECONDS,
                 max_bytes: int = DEFAULT_ANSWER_MAX_BYTES, leeway: float = 30, what: str = "peer"):
        self.token_url = token_url
        self.session = _Session(tls, what, client_id=client_id, client_secret=client_secret,
                                token_endpoint_auth_method="client_secret_basic", scope=scope,
                                token_endpoint=token_url, grant_type="client_credentials", leeway=leeway)
        self.http = HttpClient(timeout, deadline, max_bytes, tls=tls, headers=self._bearer)

    def renew(self) -> None:
        """A new token now, whatever the one held says of itself."""
        with _Deadline(self.http.deadline):
            self._token(lambda: self.session.fetch_token(self.token_url, grant_type="client_credentials",
                                                         timeout=self.http.timeout))

    def _token(self, fetch) -> None:
        """``fetch`` of a token through requests (authlib), its failures in the hub's words: the
        callers of this client catch those, not requests' own."""
        try:
            fetch()
        except (PlainHttpRefused, TlsRefused):
            raise  # the Connection's doing, in its own words: not a busy token endpoint
        except requests.RequestException as e:
            refusal = _tls_refusal(e)
            if refusal:
                raise TlsRefused(f"{self.session.what} token: {refusal}") from None
            raise TokenUnavailable(f"{self.session.what} token: no answer ({type(e).__name__})") from None

    def close(self) -> None:
        self.session.close()
        self.http.close()

    def _bearer(self) -> dict:
        """The token's header for a call, the token renewed first when it nears its end (as
        authlib's own session does before each call): under the call's own deadline."""
        self._token(lambda: self.session.ensure_active_token(self.session.token))
        return {"Authorization": f"Bearer {self.session.token['access_token']}"}

    def get(self, url: str, params: dict, what: str) -> Answer:
        """Raises what HttpClient.get raises, TokenRefused and TokenUnavailable. A 401 is the
        caller's to act on (renew once, then try again)."""
        if not self.session.token:
            self.renew()  # the first; authlib renews it from then on, ``leeway`` before it expires
        return self.http.get(url, params, {"Accept": "application/json"}, what)
