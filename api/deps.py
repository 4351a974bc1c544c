"""FastAPI dependencies shared by the routes, as ``Annotated`` aliases.

Two kinds of request session: ``DbSession`` for routes that change something (on SQLite
it takes the write lock up front, see bgcheck.platform.db) and ``ReadSession`` for routes that only
read. The current actor is loaded through the same session as the route's, so one request
uses one connection: ``CurrentActor`` goes with ``DbSession``, ``CurrentReader`` with
``ReadSession``.
"""

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session

from bgcheck import policy
from bgcheck.cases.context import CaseContext
from bgcheck.identity import auth
from bgcheck.identity.actors import Actor
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import InvalidInput, Unauthenticated
from bgcheck.platform.settings import Settings

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105  (a path)

oauth2 = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


# Attribute reads are ``async``: FastAPI runs each sync dependency in its thread pool, and
# a hop there costs more than the read. Anything that touches the database stays sync.
async def get_settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


async def get_engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


async def get_auth_config(request: Request) -> auth.AuthConfig:
    found: auth.AuthConfig = request.app.state.auth
    return found


async def get_case_context(request: Request) -> CaseContext:
    found: CaseContext = request.app.state.cases
    return found


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with session_scope(engine) as session:
        yield session


def get_read_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """For routes that only read: no write lock on SQLite, nothing committed."""
    with session_scope(engine, read_only=True) as session:
        yield session


AppSettings = Annotated[Settings, Depends(get_settings)]
AppEngine = Annotated[Engine, Depends(get_engine)]
AppAuth = Annotated[auth.AuthConfig, Depends(get_auth_config)]
CaseCtx = Annotated[CaseContext, Depends(get_case_context)]
# scope="function": the commit happens before the response leaves, so a failed commit
# is reported to the caller instead of being lost after a 2xx.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]
BearerToken = Annotated[str | None, Depends(oauth2)]


async def json_object(request: Request) -> dict[str, Any]:
    """The JSON body as a plain object, for the workflow to validate (``openapi.json_body``
    documents it). No body is ``{}``; malformed JSON is the usual 400."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidInput('body: send a JSON object, like {"note": "…"}')
    return parsed


JsonObject = Annotated[dict[str, Any], Depends(json_object)]


def _actor(session: Session, config: auth.AuthConfig, token: str | None) -> Actor:
    if not token:
        raise Unauthenticated("sign in first: send an access token as 'Authorization: Bearer …'")
    return auth.authenticate(session, config, token, now=utcnow())


def get_actor(db: DbSession, config: AppAuth, token: BearerToken) -> Actor:
    return _actor(db, config, token)


def get_reader(db: ReadSession, config: AppAuth, token: BearerToken) -> Actor:
    return _actor(db, config, token)


CurrentActor = Annotated[Actor, Depends(get_actor)]
CurrentReader = Annotated[Actor, Depends(get_reader)]


def permit(action: policy.Action, *, read_only: bool = False) -> Any:
    """For a route decorator's ``dependencies``: 401 without a user, 403 without the grant."""
    who: Callable[..., Actor] = get_reader if read_only else get_actor

    # async: the check is pure CPU, so it runs on the event loop, without a thread hop.
    async def check(actor: Annotated[Actor, Depends(who)]) -> None:
        policy.require(actor, action)

    return Depends(check)
