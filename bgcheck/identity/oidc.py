"""Single sign-on: an OpenID Connect provider's discovery document, signing keys and
token endpoint.

The key set is cached and fetched again when a token names a ``kid`` we do not know
(the provider rotated its keys), at most once per ``min_refresh_seconds`` so that a
stream of made-up ``kid`` values cannot make us hammer the provider. The discovery
document is read once and kept.

For browser sign-in (``bgcheck.identity.sso``) the provider also tells where a browser
signs in (``authorization_endpoint``) and where its code is redeemed (``redeem``: the
``token_endpoint``, with the PKCE verifier, authenticating as ``client_secret_basic``,
the default of OpenID Connect Core §9, or as a public client without a secret).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx

from bgcheck.identity.tokens import ProviderKeys
from bgcheck.platform.logs import get_logger

log = get_logger(__name__)


class ProviderUnavailable(Exception):
    """The provider's discovery document or key set could not be fetched or made sense of."""


class CodeRefused(Exception):
    """The token endpoint refused the code (used, expired, wrong PKCE verifier or client),
    or answered without an ID token. The provider's error code is logged, never shown."""


@dataclass(frozen=True, slots=True)
class OidcClient:
    """bgcheck as a registered client of the provider, for browser sign-in."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str


class OidcProvider:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        client: httpx.Client | None = None,
        min_refresh_seconds: float = 60.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._client = client or httpx.Client(timeout=httpx.Timeout(5.0), follow_redirects=False)
        self._min_refresh = min_refresh_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, Mapping[str, Any]] = {}
        self._document: Mapping[str, Any] | None = None
        self._discovery_failed_at = float("-inf")
        self._fetched_at = float("-inf")

    def verifier(self, *, audience: str | None = None) -> ProviderKeys:
        """Checks tokens for ``audience``: by default the API's, the client id for ID tokens."""
        return ProviderKeys(
            key_for=self.key_for, issuer=self.issuer, audience=audience or self.audience
        )

    def endpoints(self) -> Endpoints:
        """Where a browser signs in and where its code is redeemed (from discovery)."""
        try:
            with self._lock:
                document = self._discovery()
            return Endpoints(
                _url(document, "authorization_endpoint"), _url(document, "token_endpoint")
            )
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("identity provider endpoints unavailable", error_type=type(exc).__name__)
            raise ProviderUnavailable("the identity provider could not be reached") from None

    def redeem(
        self, code: str, *, client: OidcClient, redirect_uri: str, code_verifier: str
    ) -> str:
        """The ID token the provider gives for an authorization code (RFC 6749 §4.1.3,
        with PKCE, RFC 7636 §4.5). Raises ``CodeRefused`` or ``ProviderUnavailable``."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        if client.client_secret is None:
            form["client_id"] = client.client_id  # a public client names itself
        else:  # RFC 6749 §2.3.1: form-encoded, then HTTP Basic
            pair = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret)}"
            headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
        token_endpoint = self.endpoints().token
        try:
            response = self._client.post(token_endpoint, data=form, headers=headers)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("identity provider token endpoint failed", error_type=type(exc).__name__)
            raise ProviderUnavailable("the identity provider could not be reached") from None
        if response.status_code != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            log.info(
                "authorization code refused",
                status=response.status_code,
                error=error[:40] if isinstance(error, str) and error.isascii() else None,
            )
            raise CodeRefused("the identity provider refused the authorization code")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise CodeRefused("the identity provider answered without an ID token")
        return id_token

    def key_for(self, kid: str) -> Mapping[str, Any] | None:
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
                self._refresh()
            return self._keys.get(kid)

    def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            response = self._client.get(_url(self._discovery(), "jwks_uri"))
            response.raise_for_status()
            keys = response.json().get("keys", [])
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("identity provider keys unavailable", error_type=type(exc).__name__)
            raise ProviderUnavailable("the identity provider's keys could not be fetched") from None
        self._keys = {
            key["kid"]: key
            for key in keys
            if isinstance(key, dict) and isinstance(key.get("kid"), str)
        }

    def _discovery(self) -> Mapping[str, Any]:
        """The discovery document, fetched once (call with the lock held).

        After a failure, asking again within ``min_refresh_seconds`` fails at once: sign-in
        attempts during an outage do not queue behind one another's timeouts.
        """
        if self._document is not None:
            return self._document
        if time.monotonic() - self._discovery_failed_at < self._min_refresh:
            raise ValueError("the discovery document was unavailable moments ago")
        self._discovery_failed_at = time.monotonic()
        response = self._client.get(f"{self.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        document: Mapping[str, Any] = response.json()
        # OpenID Connect Discovery 1.0 §4.3: the issuer in it must be the one asked.
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise ValueError("discovery document names another issuer")
        _url(document, "jwks_uri")  # required (§3); not kept until it is there
        self._document = document
        return document


def _url(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ValueError(f"discovery document has no {name}")
    return value
