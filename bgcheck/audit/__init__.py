"""The audit trail: every change and every read of PII leaves a hash-chained event.

Use ``audit.record(session, actor, action=…, target=…, data=…)`` inside the transaction
that makes the change; see ``trail`` for how appends stay serialized.
"""

from bgcheck.audit.chain import GENESIS_HASH, ChainReport, canonical_json, event_hash
from bgcheck.audit.folding import record_folded
from bgcheck.audit.trail import (
    AuditActor,
    AuditDataError,
    Target,
    iter_events,
    record,
    verify,
    verify_signed,
)

__all__ = [
    "GENESIS_HASH",
    "AuditActor",
    "AuditDataError",
    "ChainReport",
    "Target",
    "canonical_json",
    "event_hash",
    "iter_events",
    "record",
    "record_folded",
    "verify",
    "verify_signed",
]
