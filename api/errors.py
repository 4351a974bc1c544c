"""The one place where errors become HTTP: RFC 9457 ``application/problem+json``.

Every error answer has ``type``, ``title``, ``status``, ``detail`` and the request id.
``detail`` says what to fix and never echoes submitted values (they may be PII).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from bgcheck.cases.service import Refused
from bgcheck.platform.db import Outage, outage
from bgcheck.platform.errors import (
    BgcheckError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)
from bgcheck.platform.logs import get_logger
from workflow import RefusalCode

PROBLEM_JSON: Final = "application/problem+json"
TYPE_BASE: Final = "https://bgcheck.example/problems/"

STATUS: Final[dict[type[BgcheckError], int]] = {
    Unauthenticated: 401,
    TooManyAttempts: 429,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    PreconditionFailed: 412,
    InvalidInput: 422,
    Unavailable: 503,
}

log = get_logger(__name__)


class Problem(BaseModel):
    """RFC 9457 problem details, as every error answer carries them."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = None


_PROBLEM_SCHEMA: Final = Problem.model_json_schema()


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: the problem+json answers it may give.

    The schema is given inline under ``application/problem+json``, the type these answers
    are sent with: FastAPI would put a ``model`` under ``application/json`` instead. List
    422 on every route with parameters or a body (else FastAPI documents its own, JSON,
    validation error) and 400 on every route with a JSON body (malformed JSON).
    """
    return {
        status: {
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
            "description": _DESCRIPTIONS[status],
        }
        for status in statuses
    }


_DESCRIPTIONS: Final = {
    400: "Malformed request",
    401: "Not signed in, or the token is invalid",
    403: "Your roles do not allow this",
    404: "Not found (or not yours to see)",
    409: "Conflicts with the current state",
    412: "The resource changed since you read it",
    413: "Request body too large",
    422: "Invalid input",
    429: "Too many attempts; see Retry-After",
    503: "Temporarily unavailable; see Retry-After",
}


def problem_response(
    status: int,
    *,
    title: str,
    detail: str,
    slug: str | None = None,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": TYPE_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem(request: Request, status: int, **fields: Any) -> JSONResponse:
    return problem_response(status, request_id=getattr(request.state, "request_id", None), **fields)


# A workflow refusal's code decides its status: each says something different to a client.
REFUSAL_STATUS: Final[dict[RefusalCode, int]] = {
    RefusalCode.WRONG_STATE: 409,
    RefusalCode.GUARD: 409,
    RefusalCode.FORBIDDEN_ROLE: 403,
    RefusalCode.CONFLICT_OF_INTEREST: 403,
    RefusalCode.NOT_ASSIGNED: 403,
    RefusalCode.OUT_OF_SCOPE: 404,
    RefusalCode.INVALID_PAYLOAD: 422,
}
if set(REFUSAL_STATUS) != set(RefusalCode):  # checked on import, like workflow/table.py
    raise RuntimeError(f"refusal codes without a status: {set(RefusalCode) - set(REFUSAL_STATUS)}")


def status_of(exc: BgcheckError) -> int:
    """The HTTP status of a domain error, for the API and the pages alike.

    A workflow refusal by its code; any other error by the first class of ``STATUS`` it is
    an instance of; 400 when none fits.
    """
    if isinstance(exc, Refused):
        return REFUSAL_STATUS[exc.code]
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)


async def _bgcheck_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BgcheckError)
    status = status_of(exc)
    if isinstance(exc, Refused):
        extra: dict[str, Any] = {"code": exc.code.value}
        if exc.errors:
            extra["errors"] = [
                {"field": str(error.get("loc", "")), "message": str(error.get("msg", ""))}
                for error in exc.errors
            ]
        return problem(
            request,
            status,
            title="Not allowed now",
            detail=exc.public_detail,
            slug=f"workflow/{exc.code.value}",
            **extra,
        )
    headers = None
    if status == 503:
        headers = {"Retry-After": "5"}
    elif isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    elif isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    return problem(
        request, status, title=exc.title, detail=exc.public_detail, slug=exc.slug, headers=headers
    )


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "request")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem(
            request,
            400,
            title="Malformed JSON",
            detail="The body is not valid JSON.",
            slug="malformed-json",
        )
    # Field names and messages only: the submitted values ("input") may be PII.
    fields = [{"field": _location(tuple(e["loc"])), "message": e["msg"]} for e in errors]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem(
        request, 422, title="Invalid request", detail=detail, slug="validation", errors=fields
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
    title = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}.get(
        exc.status_code, "Request failed"
    )
    return problem(request, exc.status_code, title=title, detail=detail, headers=exc.headers)


# What each outage tells the caller: problem slug, detail and Retry-After (seconds). A
# restart takes seconds; a read-only or full database waits for an operator.
OUTAGES: Final[dict[Outage, tuple[str, str, int]]] = {
    Outage.UNREACHABLE: ("unavailable", "The database is unavailable; try again shortly.", 5),
    Outage.READ_ONLY: (
        "database-read-only",
        "The database is read-only for now, so nothing was changed; reading still works. "
        "Try the change again later.",
        60,
    ),
    Outage.FULL: (
        "storage-full",
        "The database is out of disk space, so nothing was changed; reading still works. "
        "Try the change again later.",
        60,
    ),
}


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    cause = outage(exc)
    if cause is None:
        raise exc  # a bug, not an outage: the request middleware logs it and answers 500
    slug, detail, retry_after = OUTAGES[cause]
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "sqlite_errorname", None)
    log.error("database unavailable", outage=cause.value, error_type=type(exc).__name__, code=code)
    return problem(
        request,
        503,
        title="Service unavailable",
        slug=slug,
        detail=detail,
        headers={"Retry-After": str(retry_after)},
    )


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    # Every connection of the pool stayed busy for pool_timeout: overload, not a bug.
    log.error("database connection pool exhausted", error_type=type(exc).__name__)
    return problem(
        request,
        503,
        title="Service unavailable",
        slug="busy",
        detail="The service is busy; try again shortly.",
        headers={"Retry-After": "2"},
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A race that a service's own checks could not see (e.g. two creates of one email).
    log.warning("integrity error", error_type=type(exc).__name__)
    return problem(
        request,
        409,
        title="Conflict",
        slug="conflict",
        detail="The change conflicts with data written at the same time; reload and retry.",
    )


def unexpected_error(request_id: str | None) -> JSONResponse:
    """The answer to a bug: no internals, only the request id that finds the log line.

    Sent by the request middleware, which logs the (redacted) traceback.
    """
    return problem_response(
        500,
        title="Internal error",
        slug="internal",
        detail="Something went wrong on our side; quote the request id when reporting it.",
        request_id=request_id,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(BgcheckError, _bgcheck_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(InternalError, _database_unavailable)  # a read-only PostgreSQL
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(IntegrityError, _integrity_error)
