"""The account page: the signed-in person's own second factor (docs/pages.md).

See its status, make a new set of recovery codes, or move to a new authenticator app.
Each change first asks for a current code (``bgcheck.identity.auth.confirm_code``): a
session left open on a shared screen is not enough to take over someone's second factor.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from api.deps import AppAuth, AppSettings, DbSession, ReadSession
from api.pages.authenticator import setup_context
from api.pages.web import PageActor, PageReader, PageRoute, SignedForm, render
from bgcheck.identity import auth, mfa
from bgcheck.identity.actors import Actor
from bgcheck.models import utcnow
from bgcheck.platform.errors import SecondFactorRequired, TooManyAttempts

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ACCOUNT: Final = "/account"
RECOVERY_CODES: Final = "/account/recovery-codes"
AUTHENTICATOR: Final = "/account/authenticator"
SETUP_EXPIRED: Final = (
    "This set-up page is out of date. Add the new QR code below to your app (or type the "
    "new key), then enter both codes again."
)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _errors(field: str, message: str) -> dict[str, Any]:
    return {"fields": {field: message}, "general": []}


@router.get(ACCOUNT)
def account(request: Request, actor: PageReader, db: ReadSession) -> Response:
    return _account_page(request, actor, db)


def _account_page(
    request: Request,
    actor: Actor,
    db: Session,
    *,
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "status": mfa.status(db, user_id=actor.user_id),
        "total_codes": mfa.RECOVERY_CODE_COUNT,
        "errors": errors,
        "after_recovery": request.query_params.get("signed_in_with") == "recovery_code",
        "replaced": request.query_params.get("changed") == "authenticator",
    }
    return render(request, "account.html", context, status=status, actor=actor)


@router.post(RECOVERY_CODES)
def new_recovery_codes(
    request: Request, actor: PageActor, form: SignedForm, db: DbSession, config: AppAuth
) -> Response:
    try:
        codes = auth.regenerate_recovery_codes(
            db,
            actor,
            config,
            code=str(form.get("code") or ""),
            client_address=_address(request),
            now=utcnow(),
        )
    except SecondFactorRequired as exc:
        return _account_page(
            request, actor, db, errors=_errors("code", exc.public_detail), status=401
        )
    except TooManyAttempts as exc:
        return _account_page(
            request, actor, db, errors=_errors("code", exc.public_detail), status=429
        )
    return render(request, "recovery_codes.html", {"codes": codes}, actor=actor)


@router.get(AUTHENTICATOR)
def authenticator_form(
    request: Request, actor: PageReader, db: ReadSession, config: AppAuth, settings: AppSettings
) -> Response:
    return _authenticator_page(request, actor, db, config, settings)


def _authenticator_page(
    request: Request,
    actor: Actor,
    db: Session,
    config: AppAuth,
    settings: AppSettings,
    *,
    secret: str | None = None,
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    context = setup_context(
        config, settings, user_id=actor.user_id, email=actor.email, secret=secret
    )
    context |= {"status": mfa.status(db, user_id=actor.user_id), "errors": errors}
    return render(request, "account_authenticator.html", context, status=status, actor=actor)


@router.post(AUTHENTICATOR)
def authenticator_submit(
    request: Request,
    actor: PageActor,
    form: SignedForm,
    db: DbSession,
    config: AppAuth,
    settings: AppSettings,
) -> Response:
    secret = config.secret_box.open_pending(str(form.get("pending") or ""), user_id=actor.user_id)
    if secret is None:
        errors = _errors("code", SETUP_EXPIRED)
        return _authenticator_page(request, actor, db, config, settings, errors=errors, status=422)
    try:
        auth.replace_authenticator(
            db,
            actor,
            config,
            current_code=str(form.get("current_code") or ""),
            secret=secret,
            code=str(form.get("code") or ""),
            client_address=_address(request),
            now=utcnow(),
        )
    except auth.NewCodeRefused as exc:
        errors, status = _errors("code", exc.public_detail), 422
    except SecondFactorRequired as exc:
        errors, status = _errors("current_code", exc.public_detail), 401
    except TooManyAttempts as exc:
        errors, status = _errors("current_code", exc.public_detail), 429
    else:
        return RedirectResponse(f"{ACCOUNT}?changed=authenticator", status_code=303)
    return _authenticator_page(
        request, actor, db, config, settings, secret=secret, errors=errors, status=status
    )
