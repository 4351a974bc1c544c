"""Every change leaves an audit event, and the documented list of event types is the real one.

Two checks, so that neither the code nor docs/audit.md can drift:

- **Routes.** Every operation of ``test_access.OPS`` is performed once, successfully, as a
  role allowed to: an operation that changes something (any method but GET) must add an
  event of the type ``RECORDS`` names for it, and any other must add none unless
  ``RECORDS`` says it is an audited read. A new write route without a ``RECORDS`` entry
  fails here.
- **Types.** The event types the code records (every ``action=`` of ``bgcheck/`` and
  ``api/``, read from the source; ``f"case.{…}"`` stands for each workflow event) must be
  exactly the types docs/audit.md lists as recorded; the types it lists as planned must
  not be recorded anywhere yet.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select
from test_access import OPS, ROLES, Op, World
from test_access import world as world  # the fixture, shared

from bgcheck.identity import users as user_service
from bgcheck.models import AuditChainHead, AuditEvent
from bgcheck.platform.db import session_scope
from workflow import Event, Role

from support.factories import TEST_ACTOR, make_user

ROOT: Final = Path(__file__).resolve().parents[2]
DOC: Final = ROOT / "docs" / "audit.md"

# What each operation records when it succeeds. Reads are absent unless audited.
RECORDS: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("POST", "/api/v1/auth/token"): frozenset({"login.succeeded"}),
    ("POST", "/api/v1/auth/logout"): frozenset({"logout"}),
    ("POST", "/api/v1/departments"): frozenset({"department.created"}),
    ("POST", "/api/v1/users"): frozenset({"user.created"}),
    # OPS adds reviewer: a role that reads PII is proposed for a manager, not granted.
    ("PUT", "/api/v1/users/{user_id}/roles"): frozenset(
        {"user.roles_changed", "approval.proposed"}
    ),
    ("POST", "/api/v1/users/{user_id}/password-link"): frozenset({"user.password_link_issued"}),
    ("POST", "/api/v1/users/{user_id}/mfa-reset"): frozenset({"approval.proposed"}),
    ("POST", "/api/v1/approvals/{approval_id}/approve"): frozenset({"approval.approved"}),
    ("POST", "/api/v1/approvals/{approval_id}/reject"): frozenset({"approval.rejected"}),
    ("PUT", "/api/v1/me/identity"): frozenset({"user.identity_declared"}),
    ("PUT", "/api/v1/users/{user_id}/departments"): frozenset({"user.departments_changed"}),
    ("POST", "/api/v1/users/{user_id}/disable"): frozenset({"user.disabled"}),
    ("POST", "/api/v1/users/{user_id}/enable"): frozenset({"user.enabled"}),
    ("POST", "/api/v1/cases"): frozenset({"case.create"}),
    ("POST", "/api/v1/cases/search"): frozenset({"search.performed"}),
    # OPS fires `cancel`; every event's type is case.<event> (checked against the docs below).
    ("POST", "/api/v1/cases/{case_id}/events/{event}"): frozenset({"case.cancel"}),
    ("POST", "/api/v1/cases/{case_id}/notice-link"): frozenset({"case.notice_link_reissued"}),
    ("POST", "/api/v1/portal/{token}/consent"): frozenset({"case.consent"}),
    ("POST", "/api/v1/portal/{token}/dispute"): frozenset({"case.dispute"}),
    # Audited reads.
    ("GET", "/api/v1/cases/{case_id}/pii"): frozenset({"pii.revealed"}),
    ("GET", "/api/v1/cases/{case_id}/report"): frozenset({"report.read", "cori.disseminated"}),
    # Unsigned (OPS sends none): refused, and the refusal recorded.
    ("POST", "/api/v1/vendors/{vendor}/webhook"): frozenset({"vendor.webhook_refused"}),
    ("POST", "/api/v1/admin/jobs/{job_id}/retry"): frozenset({"vendor.job_retried"}),
    ("GET", "/api/v1/audit/events"): frozenset({"audit.exported"}),
    ("GET", "/api/v1/audit/dissemination"): frozenset({"cori.log_exported"}),
    # Reading notices records `cori.disseminated` when there are notices to read; the OPS
    # case has none yet (tests/api/test_cases_flow.py reads real ones).
}


def disabled_user(world: World) -> uuid.UUID:
    with session_scope(world.engine) as session:
        user = make_user(session, Role.AUDITOR)
        user_service.set_active(session, TEST_ACTOR, user_id=user.id, active=False)
        return user.id


# Where OPS's request changes nothing (enabling an account that is already enabled records
# nothing, rightly), a request that does.
REQUESTS: Final[dict[tuple[str, str], Callable[[World], dict[str, Any]]]] = {
    ("POST", "/api/v1/users/{user_id}/enable"): lambda w: {"path": {"user_id": disabled_user(w)}},
}


def head(world: World) -> int:
    with session_scope(world.engine, read_only=True) as session:
        return session.exec(select(AuditChainHead.seq)).one()


def actions_after(world: World, seq: int) -> list[str]:
    with session_scope(world.engine, read_only=True) as session:
        statement = select(AuditEvent.action).where(col(AuditEvent.seq) > seq)
        return list(session.exec(statement.order_by(col(AuditEvent.seq))).all())


def allowed_role(op: Op) -> str:
    return next(role for role in ROLES if role in op.allowed)


def test_every_write_route_names_the_events_it_records() -> None:
    writes = {(op.method, op.path) for op in OPS if op.method != "GET"}
    missing = writes - RECORDS.keys()
    assert not missing, f"a route changes state without a listed audit event type: {missing}"
    assert RECORDS.keys() <= {(op.method, op.path) for op in OPS}, "RECORDS names a gone route"


@pytest.mark.parametrize(
    "op", [op for op in OPS if op.allowed], ids=lambda op: f"{op.method} {op.path}"
)
def test_each_operation_records_what_it_did(world: World, op: Op) -> None:
    role = allowed_role(op)
    # The setup records events of its own: count after it.
    request = REQUESTS.get((op.method, op.path), op.request)(world)
    path = op.path.format(**request.pop("path", {}))
    before = head(world)
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {world.token(role)}"}
    response = world.client.request(op.method, path, headers=headers, **request)
    assert response.status_code == op.success, response.text
    recorded = actions_after(world, before)
    expected = RECORDS.get((op.method, op.path))
    if expected is None:
        assert recorded == [], f"{op.method} {op.path} recorded {recorded}: add it to RECORDS"
    else:
        assert expected & set(recorded), f"{op.method} {op.path} recorded {recorded}"


def test_reading_metrics_records_nothing(world: World) -> None:
    # No role may read /metrics from the world's client (OPS): only loopback clients or
    # the metrics token (tests/api/test_metrics_access.py).
    before = head(world)
    loopback = TestClient(world.app, client=("127.0.0.1", 50000))
    assert loopback.get("/metrics").status_code == 200
    assert actions_after(world, before) == []


def test_failed_and_throttled_logins_are_recorded(world: World) -> None:
    form = {"username": "nobody-here@example.edu", "password": "not the password at all"}
    statuses = []
    before = head(world)
    for _ in range(4):  # past half of BGCHECK_LOGIN_MAX_FAILURES (5), the next one waits
        statuses.append(world.client.post("/api/v1/auth/token", data=form).status_code)
    assert statuses == [401, 401, 401, 429]
    assert actions_after(world, before) == ["login.failed"] * 3 + ["login.throttled"]


# --- the documented list ---------------------------------------------------------------

DOC_ROW: Final = re.compile(r"^\| `(?P<type>[a-z_]+(?:\.[a-z_<>]+)?)` \|(?P<rest>.*)\|\s*$")


def expand(event_type: str) -> set[str]:
    """``case.<event>`` stands for one type per workflow event."""
    if event_type == "case.<event>":
        return {f"case.{event.value}" for event in Event}
    return {event_type}


def documented() -> tuple[set[str], set[str]]:
    """(recorded, planned) event types from docs/audit.md's "Event types" table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n### Event types\n", 1)[1].split("\n## ", 1)[0]
    recorded: set[str] = set()
    planned: set[str] = set()
    for line in section.splitlines():
        match = DOC_ROW.match(line)
        if match:
            target = planned if "*planned*" in match["rest"] else recorded
            target |= expand(match["type"])
    return recorded, planned


def source_files() -> Iterator[Path]:
    for package in ("bgcheck", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def string_constants(trees: dict[Path, ast.Module]) -> dict[str, str]:
    """Module-level ``NAME = "text"`` (or ``NAME: Final = "text"``) across the code."""
    found = {}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    for target in targets:
                        if isinstance(target, ast.Name):
                            found[target.id] = value.value
    return found


def recorded_in_code() -> set[str]:
    """Every value an ``action=`` keyword can take, read from the source."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in source_files()}
    constants = string_constants(trees)
    types: set[str] = set()

    def values(node: ast.expr, where: str) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return values(node.body, where) | values(node.orelse, where)
        if isinstance(node, ast.Name) and node.id in constants:
            return {constants[node.id]}
        if isinstance(node, ast.JoinedStr) and ast.unparse(node) == (
            "f'case.{decision.event.value}'"
        ):
            return expand("case.<event>")
        raise AssertionError(f"{where}: cannot tell which audit event types {ast.unparse(node)}")

    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg != "action":
                    continue
                value = keyword.value
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(value, ast.Attribute) and ast.unparse(value).split(".")[-2] == (
                    "Action"
                ):
                    continue  # a policy action (``policy.Action.REVEAL_PII``), not an event
                if ast.unparse(value) == "action":
                    # ``record`` itself, or a helper (``audit.record_folded``), passing
                    # its caller's ``action=`` on: the caller's value is read at its call.
                    continue
                types |= values(value, where)
    return types


def test_the_documented_event_types_are_the_recorded_ones() -> None:
    listed, planned = documented()
    in_code = recorded_in_code()
    assert in_code - listed == set(), "recorded but not listed in docs/audit.md"
    assert listed - in_code == set(), "listed in docs/audit.md but recorded nowhere"
    assert planned & in_code == set(), "now recorded: move it from planned to the list"
    assert listed


def test_every_documented_type_fits_the_column() -> None:
    listed, planned = documented()
    width = AuditEvent.__table__.c.action.type.length
    assert isinstance(width, int)
    assert all(len(event_type) <= width for event_type in listed | planned)
