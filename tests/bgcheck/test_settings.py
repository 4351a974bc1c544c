from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bgcheck.platform.settings import Settings, SettingsError, load_settings


def test_embedded_default_is_sqlite_in_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGCHECK_DATA_DIR", "/srv/bg")
    settings = load_settings()
    assert settings.sqlalchemy_url == "sqlite:////srv/bg/bgcheck.db"
    assert settings.is_sqlite
    assert settings.run_embedded_worker


def test_postgres_url_switches_backend_and_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGCHECK_DATABASE_URL", "postgresql://app@db:5432/bgcheck")
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")
    settings = load_settings()
    assert settings.sqlalchemy_url == "postgresql+psycopg://app@db:5432/bgcheck"
    assert not settings.is_sqlite
    assert not settings.run_embedded_worker


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BGCHECK_CONSENT_TTL_DAYS", "0"),
        ("BGCHECK_CONSENT_TTL_DAYS", "fourteen"),
        ("BGCHECK_ADVERSE_WAIT_BUSINESS_DAYS", "-1"),
        ("BGCHECK_RETENTION_YEARS", "0"),
        ("BGCHECK_SANDBOX_DELAY_SECONDS", "-2"),
        ("BGCHECK_DATABASE_URL", "mysql://root@localhost/bg"),
        ("BGCHECK_JWT_SECRET", "changeme"),
        ("BGCHECK_JWT_SECRET", "too-short"),
        ("BGCHECK_VENDOR", "acme"),
        ("BGCHECK_EMBEDDED_WORKER", "maybe"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message
    assert "\n" not in message


def test_secret_never_appears_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGCHECK_JWT_SECRET", "hunter2-is-short")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("days", ["0", "4"])
def test_a_waiting_period_under_the_legal_floor_needs_test_mode(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, days: str
) -> None:
    monkeypatch.setenv("BGCHECK_ADVERSE_WAIT_BUSINESS_DAYS", days)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "BGCHECK_ADVERSE_WAIT_BUSINESS_DAYS must be at least 5" in str(raised.value)
    monkeypatch.setenv("BGCHECK_TEST_MODE", "true")
    assert load_settings().adverse_wait_business_days == int(days)
    assert "test mode" in caplog.text


def test_test_mode_is_refused_with_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGCHECK_DATABASE_URL", "postgresql+psycopg://app@db.example.edu/bg")
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")
    monkeypatch.setenv("BGCHECK_TEST_MODE", "true")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "BGCHECK_TEST_MODE" in str(raised.value)


def test_outside_an_embedded_installation_links_are_https(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BGCHECK_DATABASE_URL", "postgresql+psycopg://app@db.example.edu/bg")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "BGCHECK_PUBLIC_URL must start with https://" in str(raised.value)
    monkeypatch.setenv("BGCHECK_PUBLIC_URL", "https://bgcheck.example.edu")
    assert load_settings().public_url == "https://bgcheck.example.edu"


def test_retention_cannot_exceed_the_cori_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGCHECK_RETENTION_YEARS", "8")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "BGCHECK_RETENTION_YEARS" in str(raised.value)
    monkeypatch.delenv("BGCHECK_RETENTION_YEARS")
    assert load_settings().retention_years == 7
    assert load_settings().retention_dry_run is False  # destroying is the default


def test_secrets_are_hidden_in_repr() -> None:
    settings = Settings(jwt_secret="x" * 40)
    assert "x" * 40 not in repr(settings)


def test_cli_stops_with_one_line_on_bad_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bgcheck", "db", "current"],
        env={"BGCHECK_CONSENT_TTL_DAYS": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BGCHECK_CONSENT_TTL_DAYS" in lines[0]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"BGCHECK_OIDC_CLIENT_ID": "bgcheck"}, "BGCHECK_OIDC_ISSUER"),
        (
            {
                "BGCHECK_OIDC_ISSUER": "https://login.example.edu",
                "BGCHECK_OIDC_AUDIENCE": "bgcheck",
                "BGCHECK_OIDC_CLIENT_SECRET": "s3cret-from-the-provider",
            },
            "BGCHECK_OIDC_CLIENT_ID",
        ),
    ],
    ids=["client-without-issuer", "secret-without-client"],
)
def test_browser_sign_in_settings_need_what_they_depend_on(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert named in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_the_client_secret_is_hidden_in_repr() -> None:
    settings = Settings(
        oidc_issuer="https://login.example.edu",
        oidc_audience="bgcheck",
        oidc_client_id="bgcheck",
        oidc_client_secret="s3cret-from-the-provider",
    )
    assert "s3cret" not in repr(settings)


def test_the_signs_of_mfa_at_the_provider_are_lists() -> None:
    settings = Settings(
        oidc_issuer="https://login.example.edu",
        oidc_audience="bgcheck",
        oidc_mfa_amr=" mfa, hwk ,,",
        oidc_mfa_acr="urn:example:loa:2",
    )
    assert settings.oidc_mfa_amr_values == {"mfa", "hwk"}
    assert settings.oidc_mfa_acr_values == {"urn:example:loa:2"}
    assert Settings().oidc_mfa_amr_values == {"mfa"}
    assert Settings().oidc_mfa_acr_values == frozenset()


def test_a_provider_with_no_sign_of_mfa_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGCHECK_OIDC_ISSUER", "https://login.example.edu")
    monkeypatch.setenv("BGCHECK_OIDC_AUDIENCE", "bgcheck")
    monkeypatch.setenv("BGCHECK_OIDC_MFA_AMR", " ")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "BGCHECK_OIDC_MFA_AMR" in str(raised.value)
