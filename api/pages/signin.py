"""Signing in and out, the home page, and the stylesheet."""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import AppAuth, AppEngine, AppSettings, DbSession
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
    SignedForm,
    WebSessions,
    end_session,
    error_page,
    is_https,
    render,
    set_cookie,
    start_session,
)
from bgcheck import policy
from bgcheck.errors import LoginFailed, SingleSignOnFailed, TooManyAttempts
from bgcheck.models import utcnow
from bgcheck.services import auth, sso

router = APIRouter(route_class=PageRoute, include_in_schema=False)

STATIC: Final = resources.files("api") / "static"
STATIC_TYPES: Final = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

SSO_START: Final = "/login/sso"
SSO_CALLBACK: Final = "/login/sso/callback"  # the redirect URI registered with the provider
# The flow's state, nonce and PKCE verifier (a signed token, bgcheck.services.sso), sent
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
        issued = auth.login(
            engine,
            config,
            email=email,
            password=password,
            client_address=request.client.host if request.client else "unknown",
            now=utcnow(),
        )
    except TooManyAttempts as exc:
        return _login_page(request, settings, error=exc.public_detail, email=email, status=429)
    except LoginFailed:
        return _login_page(
            request, settings, error="Wrong email or password.", email=email, status=401
        )
    response = RedirectResponse("/", status_code=303)
    start_session(request, response, issued.user_id)
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
