"""Files only the service's own user may read: folders 0700, files 0600.

The embedded SQLite database holds sealed PII and the audit trail, and its WAL the pages
written last; the keyring and the JWT secret unlock all of it. A file is created with
its mode before anything writes to it (SQLite gives its ``-wal`` and ``-shm`` files the
database file's mode), and what an older version left readable to others (a 0755
folder, 0644 files) is tightened when found.

Tightening only ever removes the group's and others' bits: a file someone made
read-only stays read-only. A folder with the sticky bit (``/tmp``) is shared by design
and left alone, with a warning: give the data its own folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from bgcheck.platform.logs import get_logger

OTHERS: Final = 0o077  # group and others: read, write, search

log = get_logger(__name__)


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter (created 0700 if missing)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten(path)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner may read: created empty with mode 0600 if
    missing, so whatever writes it next (SQLite) never makes it readable to others."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        tighten(path)
    return path


def tighten(path: Path) -> None:
    """Remove the group's and others' permissions from ``path``, if it exists."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(found.st_mode)
    if not mode & OTHERS:
        return
    if stat.S_ISDIR(found.st_mode) and mode & stat.S_ISVTX:
        log.warning("the data folder is shared (sticky bit); give bgcheck its own", path=str(path))
        return
    try:
        path.chmod(mode & ~OTHERS)
    except OSError as exc:  # not ours: say so, and keep running as before
        log.warning("cannot make private", path=str(path), error=exc.strerror)
        return
    log.warning(
        "made private: others could read it", path=str(path), was=oct(mode), now=oct(mode & ~OTHERS)
    )
