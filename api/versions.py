"""A case's version as HTTP carries it: the ``ETag`` we send, the ``If-Match`` and the
pages' hidden ``version`` field that come back."""

from __future__ import annotations

import re
from typing import Final

from bgcheck.models import Case
from bgcheck.platform.errors import InvalidInput


def etag(case: Case) -> str:
    return f'"{case.version}"'


# ASCII digits only, and few: str.isdigit also takes "²" or Arabic-Indic digits, which
# int() then refuses (a 500), and int() of thousands of digits is refused or slow.
_VERSION: Final = re.compile(r"[0-9]{1,9}")


def parse_version(text: str) -> int | None:
    """A case version as a client sent it back (1 to 9 ASCII digits), else None."""
    return int(text) if _VERSION.fullmatch(text) else None


def parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    version = parse_version(value.strip().removeprefix("W/").strip('"'))
    if version is None:
        raise InvalidInput('If-Match: send the ETag you read, e.g. "3"')
    return version
