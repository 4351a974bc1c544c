"""ASGI middleware: a request id and an access log line for every request, the body cap,
and the headers that keep answers out of caches.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so streamed responses stay streamed.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Final

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.errors import problem_response, unexpected_error
from bgcheck.platform.logs import get_logger

REQUEST_ID_HEADER: Final = "X-Request-ID"
_SAFE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{8,64}")

log = get_logger("api.access")


class RequestContext:
    """Gives each request an id (the caller's, if well-formed), logs it and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status, responded = 500, False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                # A bug: log the traceback (redacted), answer 500 problem+json if we still can.
                log.exception("unhandled error", error_type=type(exc).__name__)
                if responded:
                    raise
                await unexpected_error(request_id)(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                # The route template, not the path: paths may hold portal tokens.
                route = getattr(scope.get("route"), "path", "<unmatched>")
                metrics.observe(scope["method"], route, status, elapsed)
                log.info(
                    "request",
                    method=scope["method"],
                    route=route,
                    status=status,
                    ms=round(elapsed * 1000, 1),
                )


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodySizeLimit:
    """Refuses bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(
                413,
                title="Request body too large",
                detail=BodyTooLarge(self.max_bytes).detail,
                request_id=scope.get("state", {}).get("request_id"),
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


# A year, the usual minimum for browsers' preload lists; subdomains too (a campus's).
HSTS: Final = "max-age=31536000; includeSubDomains"


class NoStore:
    """``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff`` on every answer.

    The API's answers carry PII, reports and exports, and so do its errors' bodies at
    times (a case's state): no browser, proxy or CDN may keep a copy, whatever a route
    set. Other answers (pages, error pages, unknown paths) get the same unless they chose
    their own caching: only the static files do. Set at the start of the answer, so a
    streamed export stays streamed.

    ``strict_transport`` (the public address is https, as it must be outside an embedded
    installation) adds HSTS: a browser that saw bgcheck once never talks to it in clear.
    """

    def __init__(self, app: ASGIApp, *, strict_transport: bool = False) -> None:
        self.app = app
        self.strict_transport = strict_transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if api or "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                headers["X-Content-Type-Options"] = "nosniff"
                if self.strict_transport:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
