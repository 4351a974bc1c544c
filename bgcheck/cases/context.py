"""What every case operation needs beyond the session: the vault, the rules, the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from bgcheck.platform.settings import Settings, get_settings
from bgcheck.vault.store import Vault
from workflow import Rules


@dataclass(frozen=True, slots=True)
class CaseContext:
    """What every case operation needs beyond the session: vault, rules, settings."""

    vault: Vault
    rules: Rules
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings, vault: Vault) -> CaseContext:
        rules = Rules(
            consent_ttl_days=settings.consent_ttl_days,
            adverse_wait_business_days=settings.adverse_wait_business_days,
            disclosure_version=settings.disclosure_version,
        )
        return cls(vault=vault, rules=rules, settings=settings)


@cache
def default_context() -> CaseContext:
    """The process's context from the environment (for the worker and the CLI)."""
    settings = get_settings()
    return CaseContext.from_settings(settings, Vault.from_settings(settings))
