"""Signing in and out, the home page, and the stylesheet.

A password sign-in has two steps (docs/pages.md, "Signing in"): ``POST /login`` checks
the password and sets the second-step cookie, then ``/login/code`` takes the code from
the authenticator app (or a recovery code), or, for an account without one yet,
``/login/enroll`` sets it up and shows the recovery codes once. Only then does the
session start.
"""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import AppAuth, AppEngine, AppSettings, DbSession, ReadSession
from api.pages.authenticator import setup_context
from api.pages.web import (
    CSRF_FIELD,
    CSRF_MESSAGE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    AnyForm,
    CsrfRejected,
    PageReader,
    PageRoute,
    PageSession,
    SecondStep,
    SignedForm,
    Stage,
    WebSessions,
    end_second_step,
    end_session,
    error_page,
    is_https,
    issue_second_step,
    render,
    second_step_of,
    set_cookie,
    set_second_step,
    start_session,
)
from bgcheck import policy
from bgcheck.identity import auth, mfa, sso
from bgcheck.models import User, utcnow
from bgcheck.platform.errors import (
    LoginFailed,
    SecondFactorRequired,
    SingleSignOnFailed,
    TooManyAttempts,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

STATIC: Final = resources.files("api") / "static"
STATIC_TYPES: Final = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

SSO_START: Final = "/login/sso"
SSO_CALLBACK: Final = "/login/sso/callback"  # the redirect URI registered with the provider
# The flow's state, nonce and PKCE verifier (a signed token, bgcheck.identity.sso), sent
# only to the two single sign-on paths.
SSO_COOKIE: Final = "bgcheck_sso"
SSO_STATUS: Final = {
    sso.Failure.NO_VERIFIED_EMAIL.value: 403,
    sso.Failure.UNKNOWN_ACCOUNT.value: 403,
    sso.Failure.ACCOUNT_DISABLED.value: 403,
    sso.Failure.PROVIDER_UNAVAILABLE.value: 502,
}


@router.get("/")
def home(request: Request, actor: PageReader) -> Response:
    grants = {action.value for action in policy.Action if policy.granted(actor, action)}
    admin_only = grants <= {policy.Action.MANAGE_USERS.value, policy.Action.MANAGE_KEYS.value}
    return render(request, "home.html", {"grants": grants, "admin_only": admin_only}, actor=actor)


@router.get("/login")
def login_form(request: Request, settings: AppSettings) -> Response:
    return _login_page(request, settings)


def _login_page(
    request: Request,
    settings: AppSettings,
    *,
    error: str | None = None,
    email: str = "",
    status: int = 200,
) -> Response:
    binding = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    context = {
        "csrf": WebSessions.of(request).csrf("login", binding),
        "error": error,
        "email": email,
        "sso": sso.configured(request.app.state.auth),
        "signed_out": request.query_params.get("signed_out") == "1",
    }
    response = render(request, "login.html", context, status=status)
    set_cookie(response, request, LOGIN_COOKIE, binding, max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request, form: AnyForm, engine: AppEngine, config: AppAuth, settings: AppSettings
) -> Response:
    binding = request.cookies.get(LOGIN_COOKIE)
    if not binding or not WebSessions.of(request).csrf_ok("login", binding, form.get(CSRF_FIELD)):
        raise CsrfRejected(CSRF_MESSAGE + " (Your browser must accept cookies to sign in.)")
    email, password = str(form.get("email") or "").strip(), str(form.get("password") or "")
    if not email or not password:
        return _login_page(
            request, settings, error="Enter your email and your password.", email=email, status=422
        )
    try:
        checked = auth.check_password(
            engine,
            config,
            email=email,
            password=password,
            client_address=_address(request),
            now=utcnow(),
        )
    except TooManyAttempts as exc:
        return _login_page(request, settings, error=exc.public_detail, email=email, status=429)
    except LoginFailed:
        return _login_page(
            request, settings, error="Wrong email or password.", email=email, status=401
        )
    # No session yet: the second factor comes first (the code, or setting up the app).
    token, _ = issue_second_step(
        request,
        checked.user_id,
        auth_time=int(checked.checked_at.timestamp()),
        stage=Stage.SECOND_FACTOR_DUE,
    )
    response = RedirectResponse(CODE_PAGE if checked.enrolled else ENROLL_PAGE, status_code=303)
    set_second_step(request, response, token)
    return response


CODE_PAGE: Final = "/login/code"
ENROLL_PAGE: Final = "/login/enroll"
ENROLL_DONE: Final = "/login/enroll/done"
STEP_EXPIRED: Final = (
    "Your sign-in took longer than 10 minutes, or was started in another browser. "
    "Enter your email and password again."
)
# The code page asks for one of two fields: the app's code, or a recovery code.
CODE_FIELD: Final = "code"
RECOVERY_FIELD: Final = "recovery_code"


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _second_step(request: Request, *, stage: Stage = Stage.SECOND_FACTOR_DUE) -> SecondStep | None:
    step = second_step_of(request)
    return step if step is not None and step.stage is stage else None


def _step_expired(request: Request, settings: AppSettings) -> Response:
    response = _login_page(request, settings, error=STEP_EXPIRED, status=401)
    end_second_step(request, response)
    return response


def _step_csrf(request: Request, step: SecondStep) -> str:
    return WebSessions.of(request).csrf("second-step", step.token_id)


def _check_step_csrf(request: Request, step: SecondStep, form: AnyForm) -> None:
    if not WebSessions.of(request).csrf_ok("second-step", step.token_id, form.get(CSRF_FIELD)):
        raise CsrfRejected(CSRF_MESSAGE)


@router.get(CODE_PAGE)
def code_form(request: Request, db: ReadSession, settings: AppSettings) -> Response:
    step = _second_step(request)
    if step is None:
        return _step_expired(request, settings)
    user = db.get(User, step.user_id)
    if user is not None and not mfa.is_enrolled(user):
        return RedirectResponse(ENROLL_PAGE, status_code=303)  # reset meanwhile
    recovery = request.query_params.get("with") == "recovery"
    return _code_page(request, step, recovery=recovery)


def _code_page(
    request: Request,
    step: SecondStep,
    *,
    recovery: bool,
    error: str | None = None,
    status: int = 200,
) -> Response:
    field = RECOVERY_FIELD if recovery else CODE_FIELD
    context = {
        "csrf": _step_csrf(request, step),
        "recovery": recovery,
        "errors": {"fields": {field: error}, "general": []} if error else None,
    }
    return render(request, "login_code.html", context, status=status)


@router.post(CODE_PAGE)
def code_submit(
    request: Request, form: AnyForm, engine: AppEngine, config: AppAuth, settings: AppSettings
) -> Response:
    step = _second_step(request)
    if step is None:
        return _step_expired(request, settings)
    _check_step_csrf(request, step, form)
    recovery = form.get("method") == "recovery"
    code = str(form.get(RECOVERY_FIELD if recovery else CODE_FIELD) or "")
    try:
        method = auth.second_factor(
            engine,
            config,
            user_id=step.user_id,
            code=code,
            client_address=_address(request),
            now=utcnow(),
            # The field the person typed in says which kind of code it is.
            methods=frozenset({mfa.Method.RECOVERY_CODE if recovery else mfa.Method.TOTP}),
        )
    except SecondFactorRequired as exc:
        return _code_page(request, step, recovery=recovery, error=exc.public_detail, status=401)
    except TooManyAttempts as exc:
        return _code_page(request, step, recovery=recovery, error=exc.public_detail, status=429)
    except LoginFailed:
        return _step_expired(request, settings)
    # After a recovery code, the account page: how many are left, and how to make more.
    target = "/account?signed_in_with=recovery_code" if method is mfa.Method.RECOVERY_CODE else "/"
    response = RedirectResponse(target, status_code=303)
    start_session(request, response, step.user_id, auth_time=step.auth_time)
    return response


@router.get(ENROLL_PAGE)
def enroll_form(
    request: Request, db: ReadSession, config: AppAuth, settings: AppSettings
) -> Response:
    if (done := _second_step(request, stage=Stage.ENROLLED)) is not None:
        return _enrolled_again(request, done)
    step = _second_step(request)
    if step is None:
        return _step_expired(request, settings)
    user = db.get(User, step.user_id)
    if user is None or not user.is_active:
        return _step_expired(request, settings)
    if mfa.is_enrolled(user):
        return RedirectResponse(CODE_PAGE, status_code=303)
    return _enroll_page(request, step, config, settings, email=user.email)


def _enrolled_again(request: Request, done: SecondStep) -> Response:
    """A reload (or a resent form) after the recovery codes were shown: they are not shown
    again, and the person goes on to the session."""
    return render(
        request, "login_enrolled.html", {"csrf": _step_csrf(request, done), "codes": None}
    )


def _enroll_page(
    request: Request,
    step: SecondStep,
    config: AppAuth,
    settings: AppSettings,
    *,
    email: str,
    secret: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    context = setup_context(config, settings, user_id=step.user_id, email=email, secret=secret)
    context |= {
        "csrf": _step_csrf(request, step),
        "errors": {"fields": {CODE_FIELD: error}, "general": []} if error else None,
    }
    return render(request, "login_enroll.html", context, status=status)


@router.post(ENROLL_PAGE)
def enroll_submit(
    request: Request,
    form: AnyForm,
    engine: AppEngine,
    db: ReadSession,
    config: AppAuth,
    settings: AppSettings,
) -> Response:
    if (done := _second_step(request, stage=Stage.ENROLLED)) is not None:
        return _enrolled_again(request, done)
    step = _second_step(request)
    if step is None:
        return _step_expired(request, settings)
    _check_step_csrf(request, step, form)
    user = db.get(User, step.user_id)
    if user is None or not user.is_active:
        return _step_expired(request, settings)
    secret = config.secret_box.open_pending(str(form.get("pending") or ""), user_id=step.user_id)
    if secret is None:
        return _enroll_page(
            request, step, config, settings, email=user.email, error=SETUP_EXPIRED, status=422
        )
    try:
        codes = auth.enroll_at_sign_in(
            engine,
            config,
            user_id=step.user_id,
            secret=secret,
            code=str(form.get(CODE_FIELD) or ""),
            client_address=_address(request),
            now=utcnow(),
        )
    except SecondFactorRequired as exc:
        return _enroll_page(
            request,
            step,
            config,
            settings,
            email=user.email,
            secret=secret,
            error=exc.public_detail,
            status=422,
        )
    except mfa.AlreadyEnrolled:
        return RedirectResponse(CODE_PAGE, status_code=303)
    token, enrolled = issue_second_step(
        request, step.user_id, auth_time=step.auth_time, stage=Stage.ENROLLED
    )
    context = {"codes": codes, "csrf": _step_csrf(request, enrolled)}
    response = render(request, "login_enrolled.html", context)
    set_second_step(request, response, token)
    return response


SETUP_EXPIRED: Final = (
    "This set-up page is out of date. Scan the new QR code below (or type the new key), "
    "then enter the 6 digits your app shows."
)


@router.post(ENROLL_DONE)
def enroll_done(
    request: Request, form: AnyForm, engine: AppEngine, settings: AppSettings
) -> Response:
    step = _second_step(request, stage=Stage.ENROLLED)
    if step is None:
        return _step_expired(request, settings)
    _check_step_csrf(request, step, form)
    try:
        auth.finish_sign_in(
            engine,
            user_id=step.user_id,
            step_key=step.revocation_key,
            step_expires_at=step.expires_at,
            client_address=_address(request),
            now=utcnow(),
        )
    except LoginFailed:
        return _step_expired(request, settings)
    response = RedirectResponse("/", status_code=303)
    start_session(request, response, step.user_id, auth_time=step.auth_time)
    return response


@router.post("/logout")
def logout(request: Request, signed_in: PageSession, form: SignedForm, db: DbSession) -> Response:
    end_session(db, signed_in, utcnow())
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get(SSO_START)
def single_sign_on(request: Request, config: AppAuth, settings: AppSettings) -> Response:
    """Off to the identity provider, with this browser's flow in a cookie (docs/pages.md).

    A GET (the sign-in page's link), not a POST: starting a flow changes nothing on the
    server, and the pages' CSP (``form-action 'self'``) would stop Chromium from following
    a form's redirect to the provider. Login CSRF is stopped at the callback instead, where
    ``state`` must match the flow cookie of the browser that started the flow.
    """
    if not sso.configured(config):
        return error_page(request, 404, sso.MESSAGES[sso.Failure.NOT_CONFIGURED])
    try:
        started = sso.begin(config, redirect_uri=_callback_url(settings), now=utcnow())
    except SingleSignOnFailed as exc:
        return _login_page(request, settings, error=exc.public_detail, status=502)
    response = RedirectResponse(started.url, status_code=303)
    set_cookie(
        response,
        request,
        SSO_COOKIE,
        started.flow_token,
        max_age=started.expires_in,
        path=SSO_START,
    )
    return response


@router.get(SSO_CALLBACK)
def single_sign_on_callback(
    request: Request, engine: AppEngine, config: AppAuth, settings: AppSettings
) -> Response:
    """The provider sends the browser back here with ``code`` and ``state``, or ``error``.

    Success: the same session as a password sign-in. Any failure: the sign-in page with a
    message, and no session. Either way the flow cookie is gone: a flow answers once.
    """
    if not sso.configured(config):
        return error_page(request, 404, sso.MESSAGES[sso.Failure.NOT_CONFIGURED])
    query = request.query_params
    response: Response
    try:
        user_id = sso.finish(
            engine,
            config,
            flow_token=request.cookies.get(SSO_COOKIE),
            state=query.get("state"),
            code=query.get("code"),
            error=query.get("error"),
            redirect_uri=_callback_url(settings),
            client_address=request.client.host if request.client else "unknown",
            now=utcnow(),
        )
    except SingleSignOnFailed as exc:
        status = SSO_STATUS.get(exc.reason, 401)
        response = _login_page(request, settings, error=exc.public_detail, status=status)
    else:
        response = RedirectResponse("/", status_code=303)
        start_session(request, response, user_id)
    response.delete_cookie(
        SSO_COOKIE,
        path=SSO_START,
        secure=is_https(request, settings),
        httponly=True,
        samesite="lax",
    )
    return response


def _callback_url(settings: AppSettings) -> str:
    return f"{settings.public_url.rstrip('/')}{SSO_CALLBACK}"


@router.get("/static/{name}")
def static(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    resource = STATIC / name
    if "/" in name or suffix not in STATIC_TYPES or not resource.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        resource.read_bytes(),
        media_type=STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600"},
    )
