"""Response bodies of the audit routes (the exports themselves are streamed text)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bgcheck.audit import ChainReport
from bgcheck.audit.verification import describe


class AuditVerification(BaseModel):
    """The stored chain, its signed checkpoints and the chain head, checked together."""

    ok: bool = Field(description="Every link, every checkpoint and the chain head hold.")
    checked: int = Field(description="Events checked.")
    head_seq: int = Field(description="The last sequence number that holds.")
    first_bad_seq: int | None = Field(description="Where the chain first breaks; null when ok.")
    reason: str | None = Field(description="Why it breaks there; null when ok.")
    checkpoints: int = Field(description="Checkpoints that matched the chain.")
    signed_through: int = Field(
        description="The highest seq a valid signature vouches for (0: none)."
    )
    signatures_checked: bool
    summary: str = Field(description="One line, as `bgcheck audit verify` prints it.")

    @classmethod
    def of(cls, report: ChainReport) -> AuditVerification:
        return cls(
            ok=report.ok,
            checked=report.checked,
            head_seq=report.head_seq,
            first_bad_seq=report.first_bad_seq,
            reason=report.reason,
            checkpoints=report.checkpoints,
            signed_through=report.signed_through,
            signatures_checked=report.signatures_checked,
            summary=describe(report),
        )
