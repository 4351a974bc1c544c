"""Liveness, readiness and metrics: unauthenticated, and free of any case data."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from api import metrics
from api.deps import AppEngine
from api.errors import problems
from bgcheck.db import ping, session_scope
from bgcheck.errors import Unavailable
from bgcheck.services import vendor_orders

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


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics_endpoint(engine: AppEngine) -> Response:
    try:
        with session_scope(engine, read_only=True) as session:
            metrics.set_outbox(vendor_orders.job_counts(session))
    except SQLAlchemyError:
        pass  # the process's own metrics are still worth answering; /readyz tells the rest
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
