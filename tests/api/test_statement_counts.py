"""How many SQL statements a read costs: a page must not cost a query per case.

Counts, not timings: the same on every machine. A regression here (a query per case
creeping back in) shows in ``make bench`` as a list several times slower.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from api.app import create_app
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.auth import access_token
from support.cases import case_context, new_case
from support.factories import make_actor, make_user

PAGE = 20


@pytest.fixture
def counted(fresh_engine, tmp_path) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    settings = Settings(data_dir=tmp_path, embedded_worker=False)
    app = create_app(settings, engine)
    ctx = case_context(settings)
    with session_scope(engine) as session:
        hr = make_actor(session, Role.HR)
        for _ in range(PAGE):
            new_case(session, ctx, hr, utcnow())
        reviewer = make_user(session, Role.REVIEWER).id
    with TestClient(app) as client:
        yield client, engine, {"Authorization": f"Bearer {access_token(app, reviewer)}"}


def executed(engine: Engine, run: Callable[[], object]) -> list[str]:
    """The SQL statements ``run`` sends, in order."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_a_page_of_cases_costs_the_same_few_statements_however_long(counted) -> None:  # type: ignore[no-untyped-def]
    client, engine, auth = counted

    def page(limit: int) -> int:
        def get() -> None:
            response = client.get("/api/v1/cases", params={"limit": limit}, headers=auth)
            assert len(response.json()["items"]) == limit

        return len(executed(engine, get))

    one, full = page(1), page(PAGE)
    assert full == one  # no statement per case
    assert full <= 15


def test_reading_one_case_repeats_no_statement(counted) -> None:  # type: ignore[no-untyped-def]
    client, engine, auth = counted
    case_id = client.get("/api/v1/cases", params={"limit": 1}, headers=auth).json()["items"][0][
        "id"
    ]
    seen = executed(engine, lambda: client.get(f"/api/v1/cases/{case_id}", headers=auth))
    repeated = [
        s for s in set(seen) if seen.count(s) > 1 and s.lstrip().upper().startswith("SELECT")
    ]
    assert repeated == []
