"""Access changes in the pages: a new account sets its password through its link, and a
manager approves or rejects what an administrator proposed (four eyes, docs/identity.md).

``/set-password/{token}`` takes no session (the person has no password yet): the link's
token is the credential, in the path only, and its form's CSRF token is bound to it.
"""

from __future__ import annotations

import uuid
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import DbSession, ReadSession
from api.pages.web import (
    CSRF_FIELD,
    CSRF_MESSAGE,
    AnyForm,
    CsrfRejected,
    PageActor,
    PageReader,
    PageRoute,
    SignedForm,
    WebSessions,
    render,
)
from bgcheck import policy
from bgcheck.identity import account_links, approvals, link_tokens, proposals
from bgcheck.identity import users as user_service
from bgcheck.identity.passwords import MIN_LENGTH
from bgcheck.models import utcnow
from bgcheck.platform.errors import InvalidInput

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PURPOSE: Final = "set-password"
DONE: Final = {"approved": "The change was approved.", "rejected": "The change was rejected."}


@router.get(account_links.PATH + "{token}")
def set_password_form(request: Request, token: str, db: ReadSession) -> Response:
    _, user = account_links.resolve(db, token, now=utcnow())
    return _form(request, token, user.email)


@router.post(account_links.PATH + "{token}")
def set_password(request: Request, token: str, form: AnyForm, db: DbSession) -> Response:
    sessions = WebSessions.of(request)
    if not sessions.csrf_ok(PURPOSE, link_tokens.token_hash(token), form.get(CSRF_FIELD)):
        raise CsrfRejected(CSRF_MESSAGE)
    _, user = account_links.resolve(db, token, now=utcnow())
    password = str(form.get("password") or "")
    again = str(form.get("password_again") or "")
    error = None
    if not password:
        error = "New password: enter the password you want to use."
    elif password != again:
        error = "Repeat the password: it does not match the first one. Type it again."
    if error is None:
        try:
            account_links.set_password(db, token, password=password, now=utcnow())
        except InvalidInput as exc:  # "password is too common; …": say which one
            error = f"New password: this {exc.public_detail}."
    if error is not None:
        return _form(request, token, user.email, error=error, status=422)
    return render(request, "password_set.html", {"email": user.email})


def _form(
    request: Request, token: str, email: str, *, error: str | None = None, status: int = 200
) -> Response:
    csrf = WebSessions.of(request).csrf(PURPOSE, link_tokens.token_hash(token))
    context = {"csrf": csrf, "email": email, "error": error, "min_length": MIN_LENGTH}
    return render(request, "set_password.html", context, status=status)


@router.get("/approvals")
def approvals_page(request: Request, db: ReadSession, actor: PageReader) -> Response:
    """What waits for a second pair of eyes; managers decide, administrators follow."""
    policy.require(actor, policy.Action.READ_APPROVALS)
    waiting = [
        (approval, user_service.get_details(db, approval.user_id).user)
        for approval in proposals.pending(db)
    ]
    may_decide = bool(policy.granted(actor, policy.Action.APPROVE_ACCESS))
    context = {
        "waiting": waiting,
        "may_decide": may_decide,
        "done": DONE.get(request.query_params.get("done", "")),
    }
    return render(request, "approvals.html", context, actor=actor)


@router.post("/approvals/{approval_id}")
def decide(
    request: Request, approval_id: uuid.UUID, form: SignedForm, db: DbSession, actor: PageActor
) -> Response:
    if form.get("decision") == "approve":
        approvals.approve(db, actor, approval_id, now=utcnow())
        done = "approved"
    else:
        reason = str(form.get("reason") or "")
        approvals.reject(db, actor, approval_id, reason=reason, now=utcnow())
        done = "rejected"
    return RedirectResponse(f"/approvals?done={done}", status_code=303)
