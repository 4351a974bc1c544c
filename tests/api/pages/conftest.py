from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.factories import make_user
from support.pages import Office


@pytest.fixture(scope="module")
def office(databases, tmp_path_factory) -> Iterator[Office]:  # type: ignore[no-untyped-def]
    """The app on a database of its own, with one user per role and an hr of another
    department; each test makes the cases it needs through the services."""
    engine = databases.new_engine()
    settings = Settings(data_dir=tmp_path_factory.mktemp("pages"), embedded_worker=False)
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False):
        found = Office(app, engine)
        with session_scope(engine) as session:
            found.users["hr"] = make_user(session, Role.HR).id
            found.users["other_hr"] = make_user(session, Role.HR, departments=("ATH",)).id
            for role in ("reviewer", "manager", "auditor", "admin"):
                found.users[role] = make_user(session, Role(role)).id
        yield found
    engine.dispose()
