"""Every setting of bgcheck: environment variables prefixed ``BGCHECK_``.

One class, read once per process (``get_settings``). A bad value stops start-up with
one line naming the variable (``SettingsError``), never a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BGCHECK_"

# The FCRA pre-adverse waiting period the product enforces (at least five business days,
# the FTC's reasonable period), and the longest CORI may be kept (803 CMR 2.12).
FCRA_MIN_WAIT_BUSINESS_DAYS = 5
CORI_MAX_RETENTION_YEARS = 7

# Values people paste from tutorials; a secret equal to one of these is no secret.
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "password", "changethis"})

log = logging.getLogger(__name__)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path("var"), description="Folder for the embedded SQLite database and keys."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite at $BGCHECK_DATA_DIR/bgcheck.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    keyring_file: Path | None = Field(default=None, description="JSON keyring, mode 0600.")
    keyring: SecretStr | None = Field(default=None, description="The keyring JSON itself.")
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 secret for access tokens (at least 32 characters)."
    )
    jwt_issuer: str = Field(default="bgcheck", min_length=1)
    jwt_audience: str = Field(default="bgcheck-api", min_length=1)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect issuer URL; enables single sign-on."
    )
    oidc_audience: str | None = Field(
        default=None, description="The audience the provider puts in tokens meant for us."
    )
    oidc_jwks_min_refresh_seconds: float = Field(default=60.0, ge=0, le=86400)
    oidc_client_id: str | None = Field(
        default=None,
        min_length=1,
        description="bgcheck's client id at the provider; enables sign-in to the web pages "
        "through it (redirect URI: $BGCHECK_PUBLIC_URL/login/sso/callback).",
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        min_length=1,
        description="The client secret, if the provider gave one (else a public client, PKCE).",
    )
    # A provider's token must show a second factor (docs/identity.md#multi-factor-sign-in):
    # its `amr` claim names one of these methods (RFC 8176), or its `acr` is one of these.
    oidc_mfa_amr: str = Field(
        default="mfa",
        description="Comma-separated `amr` values that show MFA at the identity provider.",
    )
    oidc_mfa_acr: str = Field(
        default="",
        description="Comma-separated `acr` values that show MFA at the identity provider.",
    )
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_max_failures_per_address: int = Field(default=20, ge=1, le=10_000)
    login_block_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Searching by a candidate's email, SSN or name + date of birth (POST /cases/search):
    # at most this many searches per user in this many minutes.
    search_max_per_window: int = Field(default=30, ge=1, le=10_000)
    search_window_minutes: int = Field(default=10, ge=1, le=24 * 60)
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL used in links sent to people."
    )
    org_name: str = Field(default="bgcheck", min_length=1, max_length=120)
    # E-mail (docs/notifications.md): unset, messages go into a Maildir under the data dir.
    mail_url: SecretStr | None = Field(
        default=None,
        description="smtp://user:pass@host:587 (STARTTLS unless ?starttls=false) or "
        "smtps://user:pass@host:465; unset: deliver into $BGCHECK_DATA_DIR/mail (a Maildir).",
    )
    mail_from: str | None = Field(
        default=None,
        min_length=3,
        max_length=254,
        description="The sender address; default bgcheck@ the host of BGCHECK_PUBLIC_URL.",
    )
    mail_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) to trust for the mail server's TLS."
    )

    consent_ttl_days: int = Field(default=14, ge=1, le=365)
    # Reminders of an unanswered invitation (docs/notifications.md); 0 turns one off.
    reminder_after_days: int = Field(default=3, ge=0, le=365)
    reminder_before_expiry_days: int = Field(default=1, ge=0, le=365)
    # The legal floors below are the product's, not a setting's (docs/security.md): a
    # waiting period under FCRA_MIN_WAIT_BUSINESS_DAYS needs test mode, which is refused
    # outside an embedded (SQLite) installation.
    adverse_wait_business_days: int = Field(default=FCRA_MIN_WAIT_BUSINESS_DAYS, ge=0, le=60)
    test_mode: bool = Field(
        default=False,
        description="Allows a waiting period under 5 business days, for demos and tests; "
        "refused with PostgreSQL.",
    )
    # 803 CMR 2.12: CORI is kept no longer than seven years from the final decision.
    retention_years: int = Field(
        default=CORI_MAX_RETENTION_YEARS, ge=1, le=CORI_MAX_RETENTION_YEARS
    )
    # Cancelled and expired cases never reached a decision anyone must defend later, so
    # their PII goes sooner (`bgcheck retention run`, docs/vault.md).
    retention_closed_days: int = Field(
        default=365, ge=1, le=36500, description="Days PII of cancelled/expired cases is kept."
    )
    retention_dry_run: bool = Field(
        default=False,
        description="The worker only reports cases due for destruction instead of destroying "
        "them (an opt-out: by default it destroys them daily).",
    )
    # A process reuses a case's unwrapped data key for this long (0: never), so reloading a
    # list page does not unwrap its 50 keys again; the bound on how long another process
    # keeps a shredded case's key in memory (docs/vault.md, "The key cache").
    vault_key_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    # A checkpoint signs the audit chain when this many events wait, or when the oldest
    # unsigned one is this old: the window in which a rewrite would go unnoticed.
    audit_checkpoint_every_events: int = Field(default=1000, ge=1, le=1_000_000)
    audit_checkpoint_every_minutes: int = Field(default=15, ge=1, le=24 * 60)
    sandbox_delay_seconds: float = Field(default=2.0, ge=0, le=3600)
    vendor: Literal["sandbox", "http"] = Field(
        default="sandbox", description="The screening vendor adapter (docs/vendors.md)."
    )
    vendor_url: str | None = Field(
        default=None, description="Base URL of the HTTP vendor's API (vendor=http)."
    )
    vendor_api_key: SecretStr | None = Field(
        default=None, description="Bearer token bgcheck sends to the HTTP vendor."
    )
    vendor_webhook_secret: SecretStr | None = Field(
        default=None, description="Shared webhook signing secret (Standard Webhooks: whsec_…)."
    )
    vendor_webhook_scheme: Literal["standard", "checkr"] = Field(
        default="standard", description="How the vendor signs webhooks."
    )
    vendor_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # The outbox retries a failed vendor call with exponential backoff and jitter, from
    # this many seconds up to an hour, then gives up into the dead-letter state.
    vendor_retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    vendor_max_attempts: int = Field(default=10, ge=1, le=100)
    # Webhooks get lost (vendors stop retrying after about a day): an open order with no
    # news for this long is polled.
    vendor_poll_after_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    vendor_name: str = Field(default="Sandbox Screening (test vendor)", min_length=1)
    vendor_address: str = Field(default="1 Example Way, Boston, MA 02110", min_length=1)
    vendor_phone: str = Field(default="617-555-0100", min_length=1)
    disclosure_version: str = Field(
        default="2026-01", min_length=1, description="The FCRA disclosure the portal shows now."
    )
    embedded_worker: bool | None = Field(
        default=None, description="Run the worker inside `serve`; default: on for SQLite."
    )

    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that may read /metrics from anywhere (at least 32 "
        "characters); without it only loopback clients may.",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Reverse proxies trusted for X-Forwarded-For/-Proto: comma-separated "
        "addresses or networks (10.0.0.0/8). Empty: trust none, use the TCP peer.",
    )

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Requests one `bgcheck serve` process handles at once (uvicorn's limit_concurrency);
    # more are answered 503 at once. The app keeps a thread for each (api/app.py).
    max_concurrent_requests: int = Field(default=200, ge=1, le=10_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("jwt_secret", "metrics_token")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if secret.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; generate one with `openssl rand -base64 48`")
        if len(secret) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("mail_url")
    @classmethod
    def _mail_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps:// (unset: the embedded Maildir)")
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value is not None and (value.count("@") != 1 or any(c in value for c in "\r\n <>")):
            raise ValueError("must be a plain address such as bgcheck@example.edu")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry)  # an address is a network of one
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or a network such as 10.0.0.0/8; "
                    "list the proxies' own addresses ('*' would let any client choose "
                    "the address it is counted under)"
                ) from None
        return ",".join(entries)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("sqlite://", "sqlite+pysqlite://")):
            return value
        if value.startswith(("postgresql+psycopg://", "postgresql://")):
            # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
            return value.replace("postgresql://", "postgresql+psycopg://", 1)
        raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the provider's issuer URL (https://…)")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _oidc_needs_an_audience(self) -> Settings:
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("BGCHECK_OIDC_AUDIENCE is required with BGCHECK_OIDC_ISSUER")
        return self

    @model_validator(mode="after")
    def _oidc_client_needs_a_provider(self) -> Settings:
        if self.oidc_client_id and not self.oidc_issuer:
            raise ValueError("BGCHECK_OIDC_CLIENT_ID needs BGCHECK_OIDC_ISSUER")
        if self.oidc_client_secret and not self.oidc_client_id:
            raise ValueError("BGCHECK_OIDC_CLIENT_SECRET needs BGCHECK_OIDC_CLIENT_ID")
        return self

    @model_validator(mode="after")
    def _some_sign_of_mfa(self) -> Settings:
        if self.oidc_issuer and not (self.oidc_mfa_amr_values or self.oidc_mfa_acr_values):
            raise ValueError(
                "BGCHECK_OIDC_MFA_AMR and BGCHECK_OIDC_MFA_ACR are both empty: no token from "
                "the identity provider could show a second factor, so nobody could sign in "
                "through it"
            )
        return self

    @model_validator(mode="after")
    def _http_vendor_is_configured(self) -> Settings:
        if self.vendor == "http":
            missing = [
                env_name(name)
                for name in ("vendor_url", "vendor_api_key", "vendor_webhook_secret")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"BGCHECK_VENDOR=http needs {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _legal_floors(self) -> Settings:
        """What the law asks is not a setting: only test mode goes below it, and test mode
        only on an embedded installation (SQLite), never on PostgreSQL."""
        if self.test_mode and not self.is_sqlite:
            raise ValueError(
                "BGCHECK_TEST_MODE is for embedded (SQLite) installations only; "
                "it is refused with PostgreSQL"
            )
        if self.adverse_wait_business_days < FCRA_MIN_WAIT_BUSINESS_DAYS:
            if not self.test_mode:
                raise ValueError(
                    "BGCHECK_ADVERSE_WAIT_BUSINESS_DAYS must be at least "
                    f"{FCRA_MIN_WAIT_BUSINESS_DAYS} (the FCRA waiting period); a shorter one "
                    "needs BGCHECK_TEST_MODE=true, on SQLite only"
                )
            log.warning(
                "test mode: candidates get a waiting period of %d business days, under the "
                "legal %d; never use this with real candidates",
                self.adverse_wait_business_days,
                FCRA_MIN_WAIT_BUSINESS_DAYS,
            )
        if not self.is_sqlite and not self.public_url.startswith("https://"):
            raise ValueError(
                "BGCHECK_PUBLIC_URL must start with https:// outside an embedded installation "
                "(links carry sign-in and candidate tokens)"
            )
        return self

    @property
    def oidc_mfa_amr_values(self) -> frozenset[str]:
        return _listed(self.oidc_mfa_amr)

    @property
    def oidc_mfa_acr_values(self) -> frozenset[str]:
        return _listed(self.oidc_mfa_acr)

    @property
    def trusted_proxies(self) -> list[str]:
        """``forwarded_allow_ips`` as a list (empty: trust no proxy)."""
        return self.forwarded_allow_ips.split(",") if self.forwarded_allow_ips else []

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'bgcheck.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def mail_sender(self) -> str:
        """``BGCHECK_MAIL_FROM``, else bgcheck@ the public URL's host (localhost for an IP)."""
        if self.mail_from:
            return self.mail_from
        host = urlsplit(self.public_url).hostname or "localhost"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return f"bgcheck@{host}"
        return "bgcheck@localhost"

    @property
    def mail_dir(self) -> Path:
        """The embedded mailbox (a Maildir), used when ``BGCHECK_MAIL_URL`` is unset."""
        return self.data_dir / "mail"

    @property
    def run_embedded_worker(self) -> bool:
        return self.is_sqlite if self.embedded_worker is None else self.embedded_worker


def _listed(value: str) -> frozenset[str]:
    return frozenset(item.strip() for item in value.split(",") if item.strip())


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; turn a validation failure into one readable line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            (f"{env_name(str(err['loc'][0]))}: " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise SettingsError(f"invalid setting {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
