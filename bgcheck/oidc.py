"""Single sign-on: an OpenID Connect provider's discovery document and signing keys.

The key set is cached and fetched again when a token names a ``kid`` we do not know
(the provider rotated its keys), at most once per ``min_refresh_seconds`` so that a
stream of made-up ``kid`` values cannot make us hammer the provider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from bgcheck.logs import get_logger
from bgcheck.tokens import ProviderKeys

log = get_logger(__name__)


class ProviderUnavailable(Exception):
    """The provider's discovery document or key set could not be fetched or made sense of."""


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
        self._jwks_uri: str | None = None
        self._fetched_at = float("-inf")

    def verifier(self) -> ProviderKeys:
        return ProviderKeys(key_for=self.key_for, issuer=self.issuer, audience=self.audience)

    def key_for(self, kid: str) -> Mapping[str, Any] | None:
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
                self._refresh()
            return self._keys.get(kid)

    def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._discover()
            response = self._client.get(self._jwks_uri)
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

    def _discover(self) -> str:
        response = self._client.get(f"{self.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        document = response.json()
        # OpenID Connect Discovery 1.0 §4.3: the issuer in the document must be the one asked.
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise ValueError("discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ValueError("discovery document has no jwks_uri")
        return jwks_uri
