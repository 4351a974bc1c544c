"""Signing in (OAuth2 password flow) and out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import AppAuth, AppEngine, CaseCtx, CurrentActor, CurrentReader, DbSession
from api.errors import problems
from api.schemas.users import Me, OwnIdentity, Token
from bgcheck.identity import auth
from bgcheck.identity import users as user_service
from bgcheck.models import utcnow

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/token",
    summary="Sign in with email, password and one-time code",
    responses=problems(401, 403, 422, 429),
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    engine: AppEngine,
    config: AppAuth,
    otp: Annotated[
        str | None,
        Form(
            max_length=64,
            description="The 6-digit code your authenticator app shows now, or one of your "
            "recovery codes (each works once).",
        ),
    ] = None,
) -> Token:
    """OAuth2 password flow with a second factor: form fields `username` (the email),
    `password` and `otp`.

    Every account signs in with a second factor (docs/identity.md). `otp` is the 6-digit
    TOTP code the account's authenticator app shows now, or one of its recovery codes; a
    code is accepted once.

    - Right password, `otp` missing: **401** problem `…/problems/mfa-required`, whose
      `detail` says to send the code in the form field `otp`.
    - Right password, wrong or reused `otp`: **401** problem `…/problems/mfa-failed`.
    - The account has no authenticator app yet: **403** problem
      `…/problems/mfa-not-enrolled`; sign in once at `/login` in a browser to set one up.
    - Wrong email or password: **401** problem `…/problems/unauthenticated`.

    A wrong password and a missing or wrong code count alike: repeated failures for one
    account or from one address are slowed, then refused for a while with **429** and
    `Retry-After`. The answer never says whether the email exists.
    """
    issued = auth.login(
        engine,
        config,
        email=form.username,
        password=form.password,
        otp=otp,
        client_address=request.client.host if request.client else "unknown",
        now=utcnow(),
    )
    return Token(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/auth/logout", status_code=204, summary="Sign out this token", responses=problems(401)
)
def logout(actor: CurrentActor, db: DbSession) -> Response:
    """The token stops working at once (it is remembered as revoked until it expires)."""
    auth.logout(db, actor, now=utcnow())
    return Response(status_code=204)


@router.put(
    "/me/identity",
    status_code=204,
    summary="Declare who you are, so your own check never reaches you",
    responses=problems(400, 401, 422),
)
def declare_identity(
    body: OwnIdentity, db: DbSession, actor: CurrentActor, ctx: CaseCtx
) -> Response:
    """Your family name and date of birth (and, if you like, your SSN), kept only as blind
    indexes: a case whose candidate matches them is never shown to you, whatever your
    role, even under another email address. Nobody can read the values back."""
    user_service.set_own_identity(
        db,
        ctx.vault,
        actor,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        ssn=body.ssn,
    )
    return Response(status_code=204)


@router.get("/me", summary="Who am I", responses=problems(401))
def me(actor: CurrentReader) -> Me:
    return Me(
        id=actor.user_id,
        email=actor.email,
        display_name=actor.display_name,
        roles=sorted(actor.roles),  # type: ignore[arg-type]
        departments=sorted(actor.department_codes),
    )
