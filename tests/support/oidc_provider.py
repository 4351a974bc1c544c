"""A real, tiny OpenID Connect provider on loopback: discovery, JWKS, RS256 tokens.

Tests sign tokens with keys this provider makes and publishes, so bgcheck's SSO path is
exercised over real HTTP with real signatures (python-jose is never mocked).

For browser sign-in it also has an authorization endpoint that approves at once, as
``user_email`` (or answers ``deny`` as the error), and a token endpoint that redeems a code
once, for the client that asked for it (``client_id``, and ``client_secret`` by HTTP
Basic), with the same redirect URI and the PKCE verifier of the S256 challenge; its ID
token carries the request's nonce, and ``id_token_claims`` replace any claim.

Its tokens show a second factor, as bgcheck requires (``amr: ["pwd", "mfa"]``); a claim
given as None is left out, so ``token(amr=None)``, or ``id_token_claims = {"amr": None}``
for browser sign-in, is a sign-in with a password alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt


@dataclass(frozen=True)
class Grant:
    """What an authorization request asked for, kept under the code it was given."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    email: str


class LocalProvider:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: set[str] = set()
        self.jwks_requests = 0
        self.issuer = ""  # set when the server starts
        self.client_id = "bgcheck"
        self.client_secret: str | None = "test-client-secret"
        self.user_email = "reviewer@demo.bgcheck.test"  # who the authorization approves
        self.deny: str | None = None  # e.g. "access_denied": the authorization's answer
        self.id_token_claims: dict[str, Any] = {}
        self.grants: dict[str, Grant] = {}
        self.token_requests = 0
        self.add_key()

    def add_key(self, *, publish: bool = True) -> str:
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.add(kid)
        return kid

    @property
    def current_kid(self) -> str:
        return next(reversed(self.keys))

    def public_pem(self, kid: str | None = None) -> bytes:
        return (
            self.keys[kid or self.current_kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def public_der(self, kid: str | None = None) -> bytes:
        return (
            self.keys[kid or self.current_kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in sorted(self.published):
            public = jwk.construct(self.public_pem(kid).decode(), algorithm="RS256").to_dict()
            keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, *, kid: str | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": "bgcheck",
            "sub": "idp-user-1",
            "email": "reviewer@demo.bgcheck.test",
            "email_verified": True,
            "amr": ["pwd", "mfa"],
            "iat": now,
            "exp": now + 300,
        } | overrides
        claims = {key: value for key, value in claims.items() if value is not None}
        kid = kid or self.current_kid
        pem = self.keys[kid].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return jwt.encode(claims, pem.decode(), algorithm="RS256", headers={"kid": kid})

    def authorize(self, query: Mapping[str, str]) -> tuple[int, dict[str, Any] | str]:
        """The browser's sign-in: a redirect (302, location) or an error page (400, body)."""
        if query.get("client_id") != self.client_id or not query.get("redirect_uri"):
            return 400, {"error": "invalid_client"}  # never redirect to an unknown client
        redirect = query["redirect_uri"]
        answer: dict[str, str]
        if self.deny:
            answer = {"error": self.deny}
        elif (
            query.get("response_type") != "code"
            or "openid" not in query.get("scope", "").split()
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
            or not query.get("nonce")
        ):
            answer = {"error": "invalid_request"}
        else:
            code = secrets.token_urlsafe(24)
            self.grants[code] = Grant(
                self.client_id, redirect, query["code_challenge"], query["nonce"], self.user_email
            )
            answer = {"code": code}
        if "state" in query:
            answer["state"] = query["state"]
        return 302, f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(answer)}"

    def redeem(self, form: Mapping[str, str], authorization: str | None) -> tuple[int, Any]:
        """The token endpoint: (status, JSON body)."""
        self.token_requests += 1
        client_id = form.get("client_id")
        secret = None
        if authorization and authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, secret = (unquote_plus(part) for part in decoded.partition(":"))
        if client_id != self.client_id or secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        grant = self.grants.pop(form.get("code", ""), None)  # a code is good once
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if (
            grant is None
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
            or not secrets.compare_digest(grant.code_challenge, challenge)
        ):
            return 400, {"error": "invalid_grant"}
        claims = {"aud": self.client_id, "nonce": grant.nonce, "email": grant.email}
        return 200, {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.token(**(claims | self.id_token_claims)),
        }


@contextmanager
def running_provider() -> Iterator[LocalProvider]:
    provider = LocalProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            status = 200
            body: Any
            if self.path == "/.well-known/openid-configuration":
                body = {
                    "issuer": provider.issuer,
                    "jwks_uri": f"{provider.issuer}/jwks",
                    "authorization_endpoint": f"{provider.issuer}/authorize",
                    "token_endpoint": f"{provider.issuer}/token",
                }
            elif self.path == "/jwks":
                provider.jwks_requests += 1
                body = provider.jwks()
            elif url.path == "/authorize":
                status, body = provider.authorize(dict(parse_qsl(url.query)))
                if status == 302:
                    self.send_response(302)
                    self.send_header("Location", str(body))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            else:
                self.send_error(404)
                return
            self.answer(status, body)

        def do_POST(self) -> None:
            if self.path != "/token":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            self.answer(*provider.redeem(form, self.headers.get("Authorization")))

        def answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
