"""The benchmarks' second factor: one known TOTP secret for every bench account, and the
codes to sign in with.

A code is accepted once per account and time step (and never an older step after a newer
one), so ``Codes`` hands each account the oldest step still open (the one before now, now,
the one after) and, when an account has used all three, waits for the next step: a login
benchmark spreads its logins over many accounts instead (bench/login.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Final

from sqlmodel import Session

from bgcheck import audit
from bgcheck.identity import mfa
from bgcheck.models import utcnow

BENCH_TOTP_SECRET: Final = "BENCHMARKACCOUNTSSECRETTOTPXXXXX"
BENCH: Final = audit.AuditActor("system", "bench")


def enroll(session: Session, box: mfa.SecretBox, user_id: uuid.UUID) -> None:
    """Set up the bench secret as the account's authenticator (its step before now used)."""
    now = utcnow()
    code = mfa.code_at(BENCH_TOTP_SECRET, mfa.step_at(now) - mfa.WINDOW)
    mfa.enroll(session, BENCH, box, user_id=user_id, secret=BENCH_TOTP_SECRET, code=code, now=now)


class Codes:
    """The next acceptable code of each account (thread-safe)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_code(self, account: str) -> str | None:
        """A fresh code for ``account``, or None while it has used every step open now."""
        with self._lock:
            current = mfa.step_at(utcnow())
            # Enrollment used the step before its moment: never offer that one.
            step = max(current, self._last.get(account, current - 1) + 1)
            if step > current + mfa.WINDOW:
                return None
            self._last[account] = step
            return mfa.code_at(BENCH_TOTP_SECRET, step)

    def code(self, account: str) -> str:
        """A fresh code for ``account``, waiting for the next time step if need be."""
        while (found := self.try_code(account)) is None:
            time.sleep(1)
        return found


CODES: Final = Codes()
