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
    render,
    set_cookie,
    start_session,
)
from bgcheck import policy
from bgcheck.errors import LoginFailed, TooManyAttempts
from bgcheck.models import utcnow
from bgcheck.services import auth

router = APIRouter(route_class=PageRoute, include_in_schema=False)

STATIC: Final = resources.files("api") / "static"
STATIC_TYPES: Final = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


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
        "sso": settings.oidc_issuer is not None,
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


@router.get("/login/sso")
def single_sign_on(request: Request, settings: AppSettings) -> Response:
    """Shown only when an identity provider is configured (see docs/pages.md)."""
    if settings.oidc_issuer is None:
        return render(
            request,
            "error.html",
            {"status": 404, "title": "Not found", "message": "Single sign-on is not configured."},
            status=404,
        )
    return render(request, "sso.html", {"issuer": settings.oidc_issuer})


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
