"""The tables `make bench` prints and writes to ``bench/results/latest.md``.

Two tables, both Markdown (readable in a terminal as well): the HTTP endpoints, each
against the bare FastAPI "hello" ceiling measured just before it; and the other measures,
each against its own baseline of the same run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MEETS, BELOW = "meets target", "below"


@dataclass(frozen=True)
class HttpRow:
    backend: str
    endpoint: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    ceiling_rps: float  # the hello endpoint's, same backend section
    ceiling_p99_ms: float
    target: str = ""  # e.g. "≥ 50% of hello"
    verdict: str = ""
    cpu: float = 0.0  # the server process's CPU time over the run / wall time

    @property
    def share(self) -> float:
        return self.rps / self.ceiling_rps if self.ceiling_rps else 0.0


@dataclass(frozen=True)
class Row:
    """A measure beside its baseline; ``ratio`` already says which way it reads."""

    section: str
    measure: str
    value: str
    baseline: str
    ratio: str
    target: str = ""
    verdict: str = ""


def verdict(ok: bool) -> str:
    return MEETS if ok else BELOW


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], right: set[int]) -> list[str]:
    body = [list(row) for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *body, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        "-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)
    )
    return [line(header), rule + "|", *(line(row) for row in body)]


def http_table(rows: Sequence[HttpRow]) -> list[str]:
    header = (
        "backend",
        "endpoint",
        "req/s",
        "hello req/s",
        "of hello",
        "p50 ms",
        "p99 ms",
        "p99 x hello",
        "errors",
        "API CPU",
        "target",
        "result",
    )
    cells = [
        (
            row.backend,
            row.endpoint,
            f"{row.rps:,.0f}",
            f"{row.ceiling_rps:,.0f}",
            f"{row.share:.1%}",
            f"{row.p50_ms:.2f}",
            f"{row.p99_ms:.2f}",
            f"{row.p99_ms / row.ceiling_p99_ms:.1f}x" if row.ceiling_p99_ms else "",
            str(row.errors),
            f"{row.cpu:.0%}",
            row.target,
            row.verdict,
        )
        for row in rows
    ]
    return _table(header, cells, right={2, 3, 4, 5, 6, 7, 8, 9})


def other_table(rows: Sequence[Row]) -> list[str]:
    header = ("section", "measure", "value", "baseline (same run)", "ratio", "target", "result")
    cells = [
        (r.section, r.measure, r.value, r.baseline, r.ratio, r.target, r.verdict) for r in rows
    ]
    return _table(header, cells, right={2, 4})
