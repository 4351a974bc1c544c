"""The candidate portal: ``/portal/{token}``, the link HR sends (no account).

First the FCRA disclosure, alone on its page as the FCRA requires; then the
authorization, the CORI acknowledgement and the personal details with a typed
signature. Later the same path shows the pre-adverse notice (the report copy, the
Summary of Rights, the deadline) and a dispute form. What the link allows is the API's
answer (``bgcheck.cases.portal.get``, as the API's); the consent and the dispute go through
``bgcheck.cases.service.fire_as_candidate``, like the API's.

The token is only ever in the path (the access log records the route template, and
pages send no Referer). Forms carry a CSRF token bound to the link.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import CaseCtx, DbSession, ReadSession
from api.errors import status_of
from api.pages.forms import (
    ADDRESS_FIELDS,
    MAX_ADDRESS_ROWS,
    FormErrors,
    address_rows,
    consent_body,
    form_errors,
    text,
)
from api.pages.web import (
    CSRF_FIELD,
    CSRF_MESSAGE,
    AnyForm,
    CsrfRejected,
    PageRoute,
    WebSessions,
)
from api.pages.web import render as render_page
from bgcheck.cases import portal
from bgcheck.cases import service as case_service
from bgcheck.cases.portal import PortalSeen
from bgcheck.models import utcnow
from bgcheck.platform.errors import BgcheckError, NotFound
from workflow import Event, State
from workflow.payloads import US_STATES

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# Never written back into a re-shown form: the candidate types them again.
NOT_ECHOED = frozenset({"ssn", CSRF_FIELD})


def _binding(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _render(
    request: Request, token: str, name: str, context: dict[str, Any], status: int = 200
) -> Response:
    csrf = WebSessions.of(request).csrf("portal", _binding(token))
    return render_page(request, name, {"csrf": csrf, "token": token, **context}, status=status)


def _check(request: Request, token: str, form: Any) -> None:
    if not WebSessions.of(request).csrf_ok("portal", _binding(token), form.get(CSRF_FIELD)):
        raise CsrfRejected(CSRF_MESSAGE)


@router.get("/portal/{token}")
def portal_page(request: Request, token: str, db: ReadSession, ctx: CaseCtx) -> Response:
    view = portal.get(db, ctx, token=token, now=utcnow())
    if view.purpose == "consent":
        if view.authorization_received or view.state is not State.AWAITING_CONSENT:
            return _render(request, token, "portal_done.html", {"view": view})
        return _render(request, token, "portal_disclosure.html", {"view": view})
    return _notice_page(request, token, view)


def _notice_page(
    request: Request,
    token: str,
    view: PortalSeen,
    *,
    errors: FormErrors | None = None,
    statement: str = "",
    status: int = 200,
) -> Response:
    return _render(
        request,
        token,
        "portal_notice.html",
        {"view": view, "errors": errors or FormErrors(), "statement": statement},
        status=status,
    )


@router.get("/portal/{token}/authorize")
def authorize_form(request: Request, token: str, db: ReadSession, ctx: CaseCtx) -> Response:
    view = portal.get(db, ctx, token=token, now=utcnow())
    if view.purpose != "consent" or view.state is not State.AWAITING_CONSENT:
        return RedirectResponse(f"/portal/{token}", status_code=303)
    return _consent_page(request, token, view, values={}, rows=3, errors=FormErrors())


def _consent_page(
    request: Request,
    token: str,
    view: PortalSeen,
    *,
    values: dict[str, Any],
    rows: int,
    errors: FormErrors,
    status: int = 200,
) -> Response:
    return _render(
        request,
        token,
        "portal_consent.html",
        {
            "view": view,
            "values": values,
            "rows": rows,
            "address_fields": ADDRESS_FIELDS,
            "max_rows": MAX_ADDRESS_ROWS,
            "errors": errors,
            "us_states": sorted(US_STATES),
        },
        status=status,
    )


@router.post("/portal/{token}/consent")
def consent(request: Request, token: str, form: AnyForm, db: DbSession, ctx: CaseCtx) -> Response:
    # An unknown or used link: "not found", before anything.
    view = portal.get(db, ctx, token=token, now=utcnow())
    _check(request, token, form)
    values = {key: value for key, value in form.items() if key not in NOT_ECHOED}
    rows = address_rows(form)
    if form.get("more_addresses"):  # "Add another address": show one more row, no change
        rows = min(rows + 1, MAX_ADDRESS_ROWS)
        return _consent_page(request, token, view, values=values, rows=rows, errors=FormErrors())
    body, body_rows = consent_body(form)
    try:
        case_service.fire_as_candidate(
            db, ctx, token=token, event=Event.CONSENT, body=body, now=utcnow()
        )
    except NotFound:
        raise
    except BgcheckError as exc:
        db.rollback()
        errors = form_errors(exc, rename=lambda loc: _consent_field(loc, body_rows))
        return _consent_page(
            request, token, view, values=values, rows=rows, errors=errors, status=status_of(exc)
        )
    return _render(request, token, "portal_done.html", {"view": view, "just_signed": True})


def _consent_field(loc: list[Any], rows: list[int]) -> str:
    """The form field an error of the consent body is about."""
    head = str(loc[0])
    if head == "addresses":
        if len(loc) == 1:
            return "addresses"
        index = loc[1] if isinstance(loc[1], int) and loc[1] < len(rows) else 0
        row = rows[index] if rows else 0
        return f"addresses-{row}-{loc[2]}" if len(loc) > 2 else f"addresses-{row}"
    if head == "drivers_license":
        return f"dl_{loc[1]}" if len(loc) > 1 else "dl_number"
    return head


@router.post("/portal/{token}/dispute")
def dispute(request: Request, token: str, form: AnyForm, db: DbSession, ctx: CaseCtx) -> Response:
    view = portal.get(db, ctx, token=token, now=utcnow())
    _check(request, token, form)
    statement = text(form, "statement")
    try:
        case_service.fire_as_candidate(
            db,
            ctx,
            token=token,
            event=Event.DISPUTE,
            body={"statement": statement} if statement else {},
            now=utcnow(),
        )
    except NotFound:
        raise
    except BgcheckError as exc:
        db.rollback()
        return _notice_page(
            request,
            token,
            portal.get(db, ctx, token=token, now=utcnow()),
            errors=form_errors(exc),
            statement=statement or "",
            status=status_of(exc),
        )
    return _render(request, token, "portal_disputed.html", {"view": view})
