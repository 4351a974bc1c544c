"""The application factory.

``serve_app()`` is what `bgcheck serve` has uvicorn run; tests call ``create_app`` with
their own settings and engine.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import Engine
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import errors, openapi, pages
from api.middleware import BodySizeLimit, NoStore, RequestContext
from api.routes import audit, auth, cases, health, portal, users, vendors
from bgcheck import jobs
from bgcheck.cases.context import CaseContext
from bgcheck.crypto.loading import load_jwt_secret
from bgcheck.identity.auth import AuthConfig
from bgcheck.platform import worker
from bgcheck.platform.db import make_engine
from bgcheck.platform.logs import configure_logging
from bgcheck.platform.settings import Settings, get_settings
from bgcheck.vault.store import Vault
from bgcheck.vendors.orders import Desk

API_PREFIX = "/api/v1"


def serve_app() -> FastAPI:
    """What ``bgcheck serve`` runs: the app from the environment, owning its process."""
    return create_app(freeze_gc=True)


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, *, freeze_gc: bool = False
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    owns_engine = engine is None
    engine = engine or make_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        embedded = threading.Thread(
            target=worker.run,
            args=(engine, stop, jobs.PERIODIC),
            name="embedded-worker",
            daemon=True,
        )
        if settings.run_embedded_worker:
            embedded.start()
        # A request runs its sync steps (session, actor, route, commit) in the thread pool,
        # one at a time. With fewer threads than requests in flight, the requests waiting
        # on a row lock (the audit chain's head) held every thread while the one holding
        # the lock waited for a thread to commit: the load test hung. One thread per
        # request `bgcheck serve` admits (BGCHECK_MAX_CONCURRENT_REQUESTS) rules it out.
        threads = anyio.to_thread.current_default_thread_limiter()
        threads.total_tokens = max(threads.total_tokens, settings.max_concurrent_requests)
        if freeze_gc:
            # Everything loaded at start-up (modules, the app, its routes) lives as long as
            # the process; frozen, a full collection no longer walks it. make bench: the
            # list's p99 went from 113 to 32 ms.
            gc.collect()
            gc.freeze()
        yield
        stop.set()
        if embedded.is_alive():
            embedded.join(timeout=10)
        close_vendor = getattr(app.state.vendors.vendor, "close", None)
        if close_vendor is not None:  # the HTTP vendor's connection pool
            close_vendor()
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="bgcheck",
        summary="Employee background checks: requests, consent, screening, review, audit.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    vault = Vault.from_settings(settings)
    # TOTP secrets are sealed under a key derived from the keyring (bgcheck.identity.mfa): the
    # rotation of KEKs leaves the root key it comes from, and so the secrets, unchanged.
    app.state.auth = AuthConfig.from_settings(settings, load_jwt_secret(settings), vault.keyring)
    app.state.cases = CaseContext.from_settings(settings, vault)
    app.state.vendors = Desk.from_settings(settings, app.state.cases)
    errors.install(app)
    # Starlette runs the last-added middleware first: the request id exists before the cap,
    # and NoStore sees every answer, the 413 and the 500 included.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    app.add_middleware(NoStore, strict_transport=settings.public_url.startswith("https://"))
    if settings.trusted_proxies:
        # Outermost: the throttle, the audit trail, /metrics and the cookies' Secure flag
        # all see the client behind the proxy. uvicorn's own copy of this middleware is
        # off (`bgcheck serve`), so this is the only one (docs/operations.md).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(cases.router)
    app.include_router(portal.router)
    app.include_router(audit.router)
    app.include_router(vendors.router)
    app.include_router(pages.router)
    openapi.install(app)
    return app
