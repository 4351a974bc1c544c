"""FastAPI dependencies shared by the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from bgcheck.db import session_scope
from bgcheck.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


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
# scope="function": the commit happens before the response leaves, so a failed commit
# is reported to the caller instead of being lost after a 2xx.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]
