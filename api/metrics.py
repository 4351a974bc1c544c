"""Prometheus metrics for ``GET /metrics``. Labels use route templates, never raw paths."""

from __future__ import annotations

from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

REQUESTS: Final = Counter(
    "bgcheck_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY: Final = Histogram(
    "bgcheck_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

OUTBOX_JOBS: Final = Gauge(
    "bgcheck_outbox_jobs",
    "Vendor outbox jobs by status; any 'dead' one needs a person (GET /api/v1/admin/jobs).",
    ["status"],
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def set_outbox(counts: dict[str, int]) -> None:
    for status, count in counts.items():
        OUTBOX_JOBS.labels(status).set(count)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
