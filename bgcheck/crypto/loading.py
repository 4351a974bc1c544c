"""Where this process gets its keyring, from the settings.

``BGCHECK_KEYRING`` (the JSON itself) wins over ``BGCHECK_KEYRING_FILE`` (a 0600 file).
With neither set, the embedded mode (SQLite) generates ``$BGCHECK_DATA_DIR/keyring.json``
on first run and warns loudly; PostgreSQL deployments must supply their own, because a
keyring generated on one API host would be missing on the others.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from bgcheck.crypto import Keyring, KeyringError, load_or_create_keyring
from bgcheck.platform.logs import get_logger
from bgcheck.platform.private_files import private_dir, tighten
from bgcheck.platform.settings import Settings, SettingsError

EMBEDDED_KEYRING = "keyring.json"

log = get_logger(__name__)


def keyring_path(settings: Settings) -> Path | None:
    """The file the keyring lives in, or None when it comes from the environment."""
    if settings.keyring is not None:
        return None
    if settings.keyring_file is not None:
        return settings.keyring_file
    if settings.is_sqlite:
        return settings.data_dir / EMBEDDED_KEYRING
    return None


def load_keyring(settings: Settings) -> Keyring:
    """The keyring, or a SettingsError naming the variable to fix."""
    try:
        if settings.keyring is not None:
            return Keyring.from_json(settings.keyring.get_secret_value())
        if settings.keyring_file is not None:
            return Keyring.load(settings.keyring_file)
    except KeyringError as exc:
        variable = "BGCHECK_KEYRING" if settings.keyring is not None else "BGCHECK_KEYRING_FILE"
        raise SettingsError(f"invalid setting {variable}: {exc}") from None
    if not settings.is_sqlite:
        raise SettingsError(
            "invalid setting BGCHECK_KEYRING_FILE: a PostgreSQL deployment needs a keyring "
            "(BGCHECK_KEYRING_FILE or BGCHECK_KEYRING); create one with `bgcheck keys init`"
        )
    path = private_dir(settings.data_dir) / EMBEDDED_KEYRING
    keyring, created = load_or_create_keyring(path)
    if created:
        log.warning(
            "generated a new keyring for the embedded mode; production must supply its own "
            "and back it up apart from the database",
            path=str(path),
        )
    return keyring


EMBEDDED_JWT_SECRET = "jwt_secret"  # noqa: S105  (a file name, not a secret)


def load_jwt_secret(settings: Settings) -> str:
    """``BGCHECK_JWT_SECRET``; the embedded mode generates one in the data folder."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    if not settings.is_sqlite:
        raise SettingsError(
            "invalid setting BGCHECK_JWT_SECRET: required with PostgreSQL "
            "(generate one with `openssl rand -base64 48`)"
        )
    path = private_dir(settings.data_dir) / EMBEDDED_JWT_SECRET
    tighten(path)  # mkstemp makes it 0600; this is for a copy restored with a wider mode
    if not path.exists():
        # Written aside, then linked into place: a second process starting at the same
        # moment either links first or reads the complete file, never half of one.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".jwt-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            os.link(temporary, path)
            log.warning("generated a JWT secret for the embedded mode", path=str(path))
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()
