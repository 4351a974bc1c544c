"""A real, tiny OpenID Connect provider on loopback: discovery, JWKS, RS256 tokens.

Tests sign tokens with keys this provider makes and publishes, so bgcheck's SSO path is
exercised over real HTTP with real signatures (python-jose is never mocked).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt


class LocalProvider:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: set[str] = set()
        self.jwks_requests = 0
        self.issuer = ""  # set when the server starts
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


@contextmanager
def running_provider() -> Iterator[LocalProvider]:
    provider = LocalProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks"}
            elif self.path == "/jwks":
                provider.jwks_requests += 1
                body = provider.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
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
