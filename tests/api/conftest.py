from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from api.app import create_app
from api.deps import DbSession
from bgcheck.platform.logs import get_logger
from bgcheck.platform.settings import Settings

probe_log = get_logger("tests.probe")


class ProbeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


def probe_router() -> APIRouter:
    """Routes that exercise the skeleton's error handling the way real routes will."""
    router = APIRouter(prefix="/api/v1/probe")

    @router.post("")
    def accept(body: ProbeBody, db: DbSession) -> dict[str, str]:
        # Deliberately careless: logs what it was sent, to prove the log redacts it.
        probe_log.info(f"received {body.name}", body=body.model_dump())
        return {"name_length": str(len(body.name))}

    @router.post("/explode")
    def explode(body: ProbeBody) -> None:
        raise RuntimeError(f"boom while handling {body.name}")

    return router


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(data_dir=tmp_path, embedded_worker=False)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    app = create_app(settings, engine)
    app.include_router(probe_router())
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # Server errors become responses, as a real client would see them.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
