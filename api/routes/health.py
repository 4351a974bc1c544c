"""Liveness, readiness and metrics, free of any case data.

``/healthz`` and ``/readyz`` answer anyone. ``/metrics`` (request counts per route, the
outbox) answers loopback clients, and callers that send ``BGCHECK_METRICS_TOKEN`` as a
bearer token; anyone else gets the same 404 as a path that does not exist, a wrong token
included, so the endpoint neither shows itself nor tells a guess from a miss.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, SecretStr
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from api import metrics
from api.deps import AppEngine, AppSettings
from api.errors import problems
from bgcheck.platform.db import ping, session_scope
from bgcheck.platform.errors import Unavailable
from bgcheck.vendors import orders as vendor_orders

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The service can answer: the database is reachable",
    responses=problems(503),
)
def readyz(engine: AppEngine) -> Health:
    try:
        ping(engine)
    except SQLAlchemyError:
        raise Unavailable("The database is unreachable.") from None
    return Health(status="ready")


@router.get(
    "/metrics",
    summary="Prometheus metrics (loopback, or the metrics token)",
    response_class=Response,
    responses=problems(404),
)
def metrics_endpoint(request: Request, engine: AppEngine, settings: AppSettings) -> Response:
    """`Authorization: Bearer $BGCHECK_METRICS_TOKEN`, or a loopback client; else 404."""
    if not _may_scrape(request, settings.metrics_token):
        raise HTTPException(404)  # what an unknown path answers, word for word
    try:
        with session_scope(engine, read_only=True) as session:
            metrics.set_outbox(vendor_orders.job_counts(session))
    except SQLAlchemyError:
        pass  # the process's own metrics are still worth answering; /readyz tells the rest
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


def _may_scrape(request: Request, token: SecretStr | None) -> bool:
    if token is not None:
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), expected):
            return True
    return _is_loopback(request.client.host if request.client else None)


def _is_loopback(host: str | None) -> bool:
    """The client is this machine (behind a trusted proxy: the client the proxy names)."""
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:  # a Unix socket's peer, or the test client's "testclient"
        return False
