"""The command line, driven as an operator would, on both backends."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from bgcheck import demo
from bgcheck.cli import app
from bgcheck.crypto import Keyring
from bgcheck.crypto.loading import load_keyring
from bgcheck.identity import auth, mfa
from bgcheck.identity.passwords import verify_password
from bgcheck.models import AuditEvent, Case, User, UserRole, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import get_settings
from workflow import State

runner = CliRunner()


def leaf_commands(command: Any, path: tuple[str, ...] = ()) -> list[list[str]]:
    if hasattr(command, "commands"):  # a group
        return [
            leaf
            for name, sub in sorted(command.commands.items())
            for leaf in leaf_commands(sub, (*path, name))
        ]
    return [list(path)]


COMMANDS = leaf_commands(typer.main.get_command(app))


@pytest.fixture
def cli_engine(fresh_engine, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A fresh database that the CLI reaches through BGCHECK_DATABASE_URL."""
    engine = fresh_engine()
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("BGCHECK_DATABASE_URL", url)
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")  # not embedded
    monkeypatch.setenv("BGCHECK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BGCHECK_KEYRING", Keyring.generate().to_json())
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def test_the_commands_the_spec_names_exist() -> None:
    assert {("serve",), ("worker",), ("demo",), ("db", "upgrade"), ("users", "create")} <= {
        tuple(command) for command in COMMANDS
    }


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("serve", "worker", "demo", "db", "users"):
        assert name in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example: " in result.output
    assert "bgcheck" in result.output.split("Example: ")[1]


def test_users_create_reads_the_password_from_stdin(cli_engine: Engine) -> None:
    runner.invoke(app, ["demo", "--allow-non-embedded"], catch_exceptions=False)
    result = runner.invoke(
        app,
        [
            "users",
            "create",
            "--email",
            " New.Partner@Example.EDU ",
            "--role",
            "hr",
            "--department",
            "fac",
            "--display-name",
            "New Partner",
            "--password-stdin",
        ],
        input="a long enough passphrase\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with session_scope(cli_engine, read_only=True) as session:
        user = session.exec(select(User).where(User.email == "new.partner@example.edu")).one()
        roles = session.exec(select(UserRole.role).where(UserRole.user_id == user.id)).all()
        assert roles == ["hr"]
        assert user.password_hash is not None
        assert verify_password("a long enough passphrase", user.password_hash)
    listed = runner.invoke(app, ["users", "list"])
    assert "new.partner@example.edu" in listed.output


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (
            ["--email", "x@example.edu", "--role", "hr", "--password-stdin"],
            "long enough pw!",
            "department",
        ),
        (["--email", "x@example.edu", "--role", "hr", "--department", "NOPE"], "", "NOPE"),
        (["--email", "not-an-email", "--role", "auditor"], "", "email"),
        (
            ["--email", "x@example.edu", "--role", "auditor", "--password-stdin"],
            "short",
            "at least 12",
        ),
        (["--email", "reviewer@demo.bgcheck.test", "--role", "reviewer"], "", "already exists"),
    ],
)
def test_users_create_refuses_bad_input_with_one_line(
    cli_engine: Engine, arguments: list[str], stdin: str, message: str
) -> None:
    runner.invoke(app, ["demo", "--allow-non-embedded"], catch_exceptions=False)
    with session_scope(cli_engine, read_only=True) as session:
        before = len(session.exec(select(User)).all())
    result = runner.invoke(app, ["users", "create", *arguments], input=stdin)
    assert result.exit_code == 2
    assert message in result.output
    with session_scope(cli_engine, read_only=True) as session:
        assert len(session.exec(select(User)).all()) == before


def test_demo_seeds_one_user_per_role_and_is_idempotent(cli_engine: Engine) -> None:
    first = runner.invoke(app, ["demo", "--allow-non-embedded"], catch_exceptions=False)
    second = runner.invoke(app, ["demo", "--allow-non-embedded"], catch_exceptions=False)
    assert first.exit_code == second.exit_code == 0
    assert f"({len(demo.USERS)} new)" in first.output
    assert f"Seeded {len(demo.DEMO_CASES)} demo cases" in first.output
    assert "(0 new)" in second.output
    assert "Seeded" not in second.output
    with session_scope(cli_engine, read_only=True) as session:
        roles = set(session.exec(select(UserRole.role)).all())
        assert roles == {"hr", "reviewer", "manager", "auditor", "admin"}
        assert len(session.exec(select(User)).all()) == len(demo.USERS)
        states = Counter(session.exec(select(Case.state)).all())
    # With the default waiting period, not_cleared cannot be reached on the day.
    assert set(states) == {State(target) for *_, target in demo.DEMO_CASES} - {State.NOT_CLEARED}
    assert states[State.PRE_ADVERSE_NOTICE] == 2


def test_demo_accounts_sign_in_with_the_published_secret_and_demo_code(
    cli_engine: Engine,
) -> None:
    runner.invoke(app, ["demo", "--allow-non-embedded"], catch_exceptions=False)
    printed = runner.invoke(app, ["demo", "code"], catch_exceptions=False)
    assert printed.exit_code == 0
    code = printed.output.split()[0]
    assert re.fullmatch(r"[0-9]{6}", code)
    assert "demo code" in runner.invoke(app, ["demo", "--help"]).output
    config = auth.AuthConfig.from_settings(get_settings(), "k" * 48, load_keyring(get_settings()))
    # The code printed right after seeding signs each demo account in (once).
    for user in demo.USERS[:2]:
        issued = auth.login(
            cli_engine,
            config,
            email=user.email,
            password=demo.DEMO_PASSWORD,
            otp=code,
            client_address="127.0.0.1",
            now=utcnow(),
        )
        assert issued.access_token
    with session_scope(cli_engine, read_only=True) as session:
        assert all(mfa.is_enrolled(user) for user in session.exec(select(User)).all())
    assert demo.DEMO_TOTP_SECRET in demo.instructions([], get_settings()).replace(" ", "")


def test_demo_refuses_a_production_database_without_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BGCHECK_DATABASE_URL", "postgresql+psycopg://app@db.invalid/bgcheck")
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["demo"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "refusing" in result.output


def test_an_administrator_manages_an_account_from_the_shell(cli_engine: Engine) -> None:
    def run(*arguments: str) -> str:
        result = runner.invoke(app, list(arguments), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("departments", "create", "--code", "lib", "--name", "Libraries")
    run("departments", "create", "--code", "ATH", "--name", "Athletics")
    assert "LIB  Libraries" in run("departments", "list")
    run("users", "create", "--email", "pat@example.edu", "--role", "hr", "--department", "LIB")
    run(
        "users",
        "set-departments",
        "--email",
        "pat@example.edu",
        "--department",
        "LIB",
        "--department",
        "ath",
    )
    run("users", "set-roles", "--email", "pat@example.edu", "--role", "hr", "--role", "auditor")
    assert "disabled" in run("users", "disable", "--email", "pat@example.edu")
    listed = run("users", "list")
    assert "pat@example.edu  auditor,hr  ATH,LIB  disabled" in listed
    assert "active" in run("users", "enable", "--email", "PAT@example.edu")
    with session_scope(cli_engine, read_only=True) as session:
        actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions[-4:] == [
        "user.departments_changed",
        "user.roles_changed",
        "user.disabled",
        "user.enabled",
    ]


def test_changing_an_unknown_account_fails_with_one_line(cli_engine: Engine) -> None:
    result = runner.invoke(app, ["users", "disable", "--email", "ghost@example.edu"])
    assert result.exit_code == 2
    assert "no account" in result.output
