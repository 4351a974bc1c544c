"""The screening report: one shape, whichever vendor produced it.

Every adapter turns its vendor's answer into a ``Report`` so that storage, the review
desk and the notices never depend on a vendor's format. A report is PII (criminal
records): it is only ever stored sealed by the vault.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class Result(enum.StrEnum):
    """The vendor's overall reading; adjudication is ours, not the vendor's."""

    CLEAR = "clear"
    CONSIDER = "consider"  # at least one finding for a reviewer to look at


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    jurisdiction: str = Field(max_length=200, examples=["Suffolk County, MA"])
    offense: str = Field(max_length=500, examples=["Larceny over $1,200"])
    severity: str = Field(default="unknown", max_length=32, examples=["misdemeanor"])
    disposition: str = Field(max_length=200, examples=["Guilty, filed"])
    offense_date: date | None = None
    disposition_date: date | None = None
    source: str | None = Field(default=None, max_length=200, examples=["MA iCORI"])


class Check(BaseModel):
    """One search the package ran (a county, a registry, a state repository)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(max_length=120, examples=["Massachusetts CORI"])
    status: Result
    completed_at: datetime | None = None
    findings: list[Finding] = Field(default_factory=list, max_length=500)


class Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: str = Field(max_length=120)
    reference: str = Field(max_length=128)
    package: str = Field(max_length=64)
    result: Result
    completed_at: datetime
    checks: list[Check] = Field(default_factory=list, max_length=100)

    @property
    def findings(self) -> list[Finding]:
        return [finding for check in self.checks for finding in check.findings]
