"""A test user's authenticator app: enroll with a known secret, then compute its codes.

A code is accepted once per time step, and only for a step after the last one used, so
``Authenticator.code()`` hands out the codes of the steps still open (the one before now,
now, the one after: three sign-ins in a row) and fails loudly when none is left, rather
than let a test wait 30 seconds.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from bgcheck import audit
from bgcheck.crypto import Keyring
from bgcheck.crypto.loading import load_keyring
from bgcheck.identity import mfa
from bgcheck.models import utcnow
from bgcheck.platform.settings import Settings

KNOWN_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # test-only, 160 bits of base32
TESTS = audit.AuditActor("system", "tests")
# How close to the end of a step the step before it is no longer handed out.
SAFETY_SECONDS = 8


@dataclass
class Authenticator:
    """The app on a test user's phone: their secret and the steps already used."""

    secret: str = KNOWN_SECRET
    last_step: int | None = None
    recovery_codes: list[str] = field(default_factory=list)

    def code(self, now: datetime | None = None) -> str:
        """A code the server will accept now: the oldest step of the window not yet used.

        Asked in a step's last seconds (``now`` not given: a real request follows), it
        waits for the next step first: a request that crossed the boundary on its way (a
        loaded machine) would find the oldest step out of the window.
        """
        moment = now or utcnow()
        into_step = moment.timestamp() % mfa.STEP_SECONDS
        if now is None and into_step > mfa.STEP_SECONDS - SAFETY_SECONDS:
            time.sleep(mfa.STEP_SECONDS - into_step + 0.05)
            moment = utcnow()
        current = mfa.step_at(moment)
        step = current - mfa.WINDOW
        if self.last_step is not None:
            step = max(step, self.last_step + 1)
        if step > current + mfa.WINDOW:
            raise AssertionError("this test used every code of the window; use another user")
        self.last_step = step
        return mfa.code_at(self.secret, step)

    def recovery_code(self) -> str:
        return self.recovery_codes.pop()


def box_of(keyring: Keyring) -> mfa.SecretBox:
    return mfa.SecretBox.for_keyring(keyring)


def box_for(settings: Settings) -> mfa.SecretBox:
    """The box of the server these settings start (the same keyring: file or variable)."""
    return box_of(load_keyring(settings))


def enroll(
    session: Session,
    box: mfa.SecretBox,
    user_id: uuid.UUID,
    *,
    secret: str = KNOWN_SECRET,
    recovery_codes: bool = False,
    now: datetime | None = None,
) -> Authenticator:
    """Set up ``secret`` as the user's authenticator, as the enrollment page would."""
    now = now or utcnow()
    app = Authenticator(secret)
    mfa.enroll(session, TESTS, box, user_id=user_id, secret=secret, code=app.code(now), now=now)
    if recovery_codes:
        app.recovery_codes = mfa.generate_recovery_codes(session, TESTS, user_id=user_id, now=now)
    return app
