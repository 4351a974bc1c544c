"""What every page shares: templates, the browser session, CSRF tokens, error pages.

**The session.** Signing in issues a token from ``bgcheck.identity.tokens`` (HS256, our secret)
for a separate audience (``<jwt audience>:web``), so a session cookie is never accepted
as an API bearer token, nor an API token as a session. It carries two private claims:
``sid``, random per sign-in, and ``auth_time``, when the password was checked. It lives
``BGCHECK_ACCESS_TOKEN_MINUTES`` (the idle timeout) and is renewed when past half its
life, but never beyond ``MAX_SESSION`` after ``auth_time``. The cookie is HttpOnly,
SameSite=Lax, and Secure when the app is served over HTTPS. Signing out revokes the
token and the whole sign-in (its ``sid``), in the ``revoked_tokens`` table the API's
logout uses, so renewed copies die with it.

**The second step.** A right password starts no session. It sets a short-lived signed
cookie (``MFA_COOKIE``, a token for its own audience ``<jwt audience>:web-mfa``, so it is
never a session or an API token) that carries the user id and the password's time, and
the person goes on to the code page or, without an authenticator yet, to enrollment. The
session starts only when the second factor has been shown (docs/pages.md).

**CSRF.** Every form carries ``csrf_token`` = HMAC-SHA256(key, purpose and binding): the
session's ``sid`` when signed in, a random pre-session cookie on the sign-in form, the
link's hash on the candidate portal. It is compared with ``hmac.compare_digest``. The
key is derived from the JWT secret. See docs/pages.md.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from api.deps import DbSession, ReadSession
from api.errors import status_of
from bgcheck import policy
from bgcheck.identity import auth, revocations, tokens
from bgcheck.identity.actors import Actor
from bgcheck.models import utcnow
from bgcheck.platform.errors import (
    BgcheckError,
    Forbidden,
    Unauthenticated,
)
from bgcheck.platform.logs import get_logger
from bgcheck.platform.settings import Settings
from workflow import State

SESSION_COOKIE: Final = "bgcheck_session"
LOGIN_COOKIE: Final = "bgcheck_login"
# Between the password and the second factor; sent only to the sign-in steps' paths.
MFA_COOKIE: Final = "bgcheck_mfa"
MFA_COOKIE_PATH: Final = "/login"
SECOND_STEP_LIFETIME: Final = timedelta(minutes=10)
# However active, a sign-in ends after a working day (NIST SP 800-63B, AAL2: 12 hours).
MAX_SESSION: Final = timedelta(hours=12)
CSRF_FIELD: Final = "csrf_token"
LOCAL_TIME: Final = ZoneInfo("America/New_York")  # Massachusetts: deadlines are Boston time

# Pages hold PII: never cached, never framed, no third-party anything, no Referer (the
# portal's path holds the candidate's link token).
SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

log = get_logger(__name__)


class CsrfRejected(Forbidden):
    """A form without the token this page gave it: stale, or not from bgcheck."""


CSRF_MESSAGE: Final = (
    "This form has expired or did not come from bgcheck. Reload the page and try again."
)


# -- templates -----------------------------------------------------------------------------


def _when(moment: datetime | str | None) -> str:
    """A time as Boston wall-clock time (documents store ISO text)."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return str(moment)
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M %Z")


def _age(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "—"
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def state_label(state: State | str) -> str:
    return str(getattr(state, "value", state)).replace("_", " ").capitalize()


templates = Environment(
    loader=PackageLoader("api", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = _when
templates.filters["age"] = _age
templates.filters["state_label"] = state_label


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    actor: Actor | None = None,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    values: dict[str, Any] = {
        "org_name": settings.org_name,
        "actor": actor,
        "nav": navigation(actor) if actor else [],
        "csrf": getattr(request.state, "csrf", None),
        "path": request.url.path,
        "now": utcnow(),
        "State": State,
        **(context or {}),
    }
    return HTMLResponse(templates.get_template(name).render(values), status_code=status)


def navigation(actor: Actor) -> list[tuple[str, str]]:
    """The menu: one entry per page the actor's roles open (from ``bgcheck.policy``)."""
    entries = [("/", "Home")]
    if policy.granted(actor, policy.Action.CREATE_CASE):
        entries.append(("/cases/new", "New request"))
    if policy.granted(actor, policy.Action.READ_REPORT):
        entries.append(("/review", "Review queue"))
    if policy.granted(actor, policy.Action.READ_CASE):
        entries.append(("/cases", "Cases"))
    if policy.granted(actor, policy.Action.EXPORT_AUDIT) or policy.granted(
        actor, policy.Action.READ_DISSEMINATION_LOG
    ):
        entries.append(("/audit", "Audit"))
    if policy.granted(actor, policy.Action.READ_APPROVALS):
        entries.append(("/approvals", "Approvals"))
    if policy.granted(actor, policy.Action.MANAGE_JOBS):
        entries.append(("/admin/outbox", "Outbox"))
    if policy.granted(actor, policy.Action.READ_MAILBOX):
        entries.append(("/admin/mail", "Sent mail"))
    entries.append(("/account", "Account"))  # everyone's own second factor
    return entries


# -- sessions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebSessions:
    """Issues and reads session tokens; derives the CSRF key. One per app."""

    secret: tokens.SharedSecret
    idle: timedelta
    csrf_key: bytes
    config: auth.AuthConfig  # to load the actor like the API does, with our audience
    second_step: tokens.SharedSecret  # between the password and the code: its own audience

    @classmethod
    def of(cls, request: Request) -> WebSessions:
        return cls.for_app(request.app)

    @classmethod
    def for_app(cls, app: Any) -> WebSessions:
        state = app.state
        found = getattr(state, "web_sessions", None)
        if found is None:
            config: auth.AuthConfig = state.auth
            secret = replace(config.own, audience=f"{config.own.audience}:web")
            key = hmac.new(
                config.own.secret.encode(), b"bgcheck pages csrf v1", hashlib.sha256
            ).digest()
            found = cls(
                secret=secret,
                idle=config.token_lifetime,
                csrf_key=key,
                config=replace(config, own=secret, provider=None),
                second_step=replace(config.own, audience=f"{config.own.audience}:web-mfa"),
            )
            state.web_sessions = found
        return found

    def issue(self, user_id: uuid.UUID, *, sid: str, auth_time: int, now: datetime) -> str:
        ends = datetime.fromtimestamp(auth_time, UTC) + MAX_SESSION
        lifetime = min(self.idle, ends - now)
        token, _ = tokens.issue(
            self.secret,
            subject=str(user_id),
            now=now,
            lifetime=lifetime,
            extra={"sid": sid, "auth_time": auth_time},
        )
        return token

    def csrf(self, purpose: str, binding: str) -> str:
        mac = hmac.new(self.csrf_key, f"{purpose}\n{binding}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def csrf_ok(self, purpose: str, binding: str, supplied: object) -> bool:
        if not isinstance(supplied, str) or not supplied:
            return False
        return hmac.compare_digest(self.csrf(purpose, binding).encode(), supplied.encode())


def sid_revocation_key(sid: str) -> str:
    return revocations.key("web-session", sid)


@dataclass(frozen=True, slots=True)
class SignedIn:
    actor: Actor
    sid: str
    auth_time: int
    expires_at: datetime


def is_https(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.public_url.startswith("https://")


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=is_https(request, request.app.state.settings),
        httponly=True,
        samesite="lax",
    )


def start_session(
    request: Request, response: Response, user_id: uuid.UUID, *, auth_time: int | None = None
) -> None:
    """After a successful sign-in: a new ``sid``, a session token in the cookie.

    ``auth_time``: when the password was checked (a password sign-in's second step comes
    a little later); the 12-hour limit counts from it. Default: now (single sign-on).
    """
    sessions = WebSessions.of(request)
    now = utcnow()
    token = sessions.issue(
        user_id,
        sid=secrets.token_urlsafe(16),
        auth_time=auth_time if auth_time is not None else int(now.timestamp()),
        now=now,
    )
    set_cookie(response, request, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    if request.cookies.get(MFA_COOKIE):
        end_second_step(request, response)


class Stage(enum.StrEnum):
    """How far a password sign-in has come (the second-step cookie's ``stage``)."""

    SECOND_FACTOR_DUE = "second_factor_due"  # the password was right: a code, or enrollment
    ENROLLED = "enrolled"  # an authenticator was just set up and its recovery codes shown


@dataclass(frozen=True, slots=True)
class SecondStep:
    """A password sign-in waiting for its second factor (from the ``MFA_COOKIE``)."""

    user_id: uuid.UUID
    auth_time: int  # when the password was checked
    stage: Stage
    token_id: str  # binds the step's forms (CSRF) and names it when it is used up
    expires_at: datetime

    @property
    def revocation_key(self) -> str:
        return revocations.key("web-mfa", str(self.token_id))


def issue_second_step(
    request: Request, user_id: uuid.UUID, *, auth_time: int, stage: Stage
) -> tuple[str, SecondStep]:
    """A second-step token (for ``set_second_step``) and what it says. It ends
    ``SECOND_STEP_LIFETIME`` after the password was checked, whatever the stage."""
    now = utcnow()
    ends = datetime.fromtimestamp(auth_time, UTC) + SECOND_STEP_LIFETIME
    token, claims = tokens.issue(
        WebSessions.of(request).second_step,
        subject=str(user_id),
        now=now,
        lifetime=max(ends - now, timedelta(seconds=1)),
        extra={"auth_time": auth_time, "stage": stage.value},
    )
    assert claims.token_id is not None  # every token we issue has a jti
    return token, SecondStep(user_id, auth_time, stage, claims.token_id, claims.expires_at)


def set_second_step(request: Request, response: Response, token: str) -> None:
    set_cookie(
        response,
        request,
        MFA_COOKIE,
        token,
        max_age=int(SECOND_STEP_LIFETIME.total_seconds()),
        path=MFA_COOKIE_PATH,
    )


def second_step_of(request: Request) -> SecondStep | None:
    """This browser's sign-in waiting for its second factor, if any (expired: none)."""
    token = request.cookies.get(MFA_COOKIE)
    if not token:
        return None
    try:
        claims = tokens.verify(token, WebSessions.of(request).second_step)
        user_id = uuid.UUID(claims.subject)
        stage = Stage(str(claims.raw.get("stage")))
    except (tokens.InvalidToken, ValueError):
        return None
    auth_time = claims.raw.get("auth_time")
    if not isinstance(auth_time, int) or claims.token_id is None:
        return None
    return SecondStep(user_id, auth_time, stage, claims.token_id, claims.expires_at)


def end_second_step(request: Request, response: Response) -> None:
    response.delete_cookie(
        MFA_COOKIE,
        path=MFA_COOKIE_PATH,
        secure=is_https(request, request.app.state.settings),
        httponly=True,
        samesite="lax",
    )


def end_session(session: Session, signed_in: SignedIn, now: datetime) -> None:
    """Sign-out: this token and every renewal of the same sign-in stop working now."""
    auth.logout(session, signed_in.actor, now=now)
    ends = datetime.fromtimestamp(signed_in.auth_time, UTC) + MAX_SESSION
    revocations.revoke(session, sid_revocation_key(signed_in.sid), until=ends, now=now)


def _signed_in(request: Request, session: Session) -> SignedIn:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("sign in first")
    sessions = WebSessions.of(request)
    now = utcnow()
    try:
        claims = tokens.verify(token, sessions.secret)
    except tokens.InvalidToken as exc:
        log.info("session refused", reason=exc.reason)
        raise Unauthenticated("your session has ended; sign in again") from None
    sid, auth_time = claims.raw.get("sid"), claims.raw.get("auth_time")
    signed_in_at = tokens.moment(auth_time)
    if not isinstance(sid, str) or signed_in_at is None or signed_in_at > claims.issued_at:
        raise Unauthenticated("your session has ended; sign in again")
    ends = signed_in_at + MAX_SESSION
    if now >= ends or revocations.is_revoked(session, sid_revocation_key(sid)):
        raise Unauthenticated("your session has ended; sign in again")
    actor = auth.authenticate(session, sessions.config, token, now=now)
    if claims.expires_at - now < sessions.idle / 2 and ends - now > timedelta(minutes=1):
        # Sliding renewal; the PageRoute puts it in the answer's cookie.
        request.state.renewed_session = sessions.issue(
            actor.user_id, sid=sid, auth_time=int(signed_in_at.timestamp()), now=now
        )
    request.state.csrf = sessions.csrf("session", sid)
    request.state.page_actor = actor
    return SignedIn(actor, sid, int(signed_in_at.timestamp()), claims.expires_at)


def get_page_reader(request: Request, db: ReadSession) -> SignedIn:
    return _signed_in(request, db)


def get_page_writer(request: Request, db: DbSession) -> SignedIn:
    return _signed_in(request, db)


def _reader_actor(signed_in: Annotated[SignedIn, Depends(get_page_reader)]) -> Actor:
    return signed_in.actor


def _writer_actor(signed_in: Annotated[SignedIn, Depends(get_page_writer)]) -> Actor:
    return signed_in.actor


async def read_form(request: Request) -> FormData:
    return await request.form()


def _signed_form(
    request: Request,
    signed_in: Annotated[SignedIn, Depends(get_page_writer)],
    form: Annotated[FormData, Depends(read_form)],
) -> FormData:
    if not WebSessions.of(request).csrf_ok("session", signed_in.sid, form.get(CSRF_FIELD)):
        raise CsrfRejected(CSRF_MESSAGE)
    return form


PageReader = Annotated[Actor, Depends(_reader_actor)]
PageActor = Annotated[Actor, Depends(_writer_actor)]
PageSession = Annotated[SignedIn, Depends(get_page_writer)]
SignedForm = Annotated[FormData, Depends(_signed_form)]
AnyForm = Annotated[FormData, Depends(read_form)]


# -- errors and headers --------------------------------------------------------------------

ERROR_TITLES: Final = {
    400: "That request was not understood",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not possible now",
    412: "The case changed",
    413: "Too much data",
    422: "Please check what you entered",
    429: "Too many attempts",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": ERROR_TITLES.get(status, "Something went wrong"),
            "message": message,
        },
        status=status,
        actor=getattr(request.state, "page_actor", None),
    )


class PageRoute(APIRoute):
    """A route that answers in HTML: errors become pages, not problem+json, and every
    answer gets the pages' security headers (and a renewed session cookie when due).

    Exceptions raised inside the route or its dependencies reach this wrapper after the
    request's session has rolled back, so an error page never goes with a change.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Unauthenticated:
                response = RedirectResponse("/login", status_code=303)
                if request.cookies.get(SESSION_COOKIE):
                    response.delete_cookie(SESSION_COOKIE, path="/")
            except BgcheckError as exc:
                response = error_page(request, status_of(exc), exc.public_detail)
            except RequestValidationError:
                response = error_page(
                    request, 400, "Part of this address or form is not valid. Go back and retry."
                )
            except HTTPException as exc:
                response = error_page(
                    request, exc.status_code, exc.detail if isinstance(exc.detail, str) else ""
                )
            renewed = getattr(request.state, "renewed_session", None)
            if renewed and response.status_code < 400:
                set_cookie(response, request, SESSION_COOKIE, renewed)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page_handler
