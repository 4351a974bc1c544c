"""The vocabulary of the case lifecycle: states, events, roles and effects.

Plain string enums, so a value stored in a database column or sent in a URL is the same
text a person reads in the docs and the audit trail.
"""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class State(StrEnum):
    DRAFT = "draft"
    AWAITING_CONSENT = "awaiting_consent"
    CONSENT_RECEIVED = "consent_received"
    READY = "ready"
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    PENDING_REVIEW = "pending_review"
    UNDER_REVIEW = "under_review"
    CLEARED = "cleared"
    ADVERSE_PROPOSED = "adverse_proposed"
    PRE_ADVERSE_NOTICE = "pre_adverse_notice"
    DISPUTED = "disputed"
    NOT_CLEARED = "not_cleared"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Event(StrEnum):
    CREATE = "create"
    INVITE = "invite"
    CONSENT = "consent"
    VERIFY_IDENTITY = "verify_identity"
    ORDER = "order"
    VENDOR_ACK = "vendor_ack"
    VENDOR_COMPLETE = "vendor_complete"
    CLAIM = "claim"
    ASSIGN = "assign"
    CLEAR = "clear"
    PROPOSE_ADVERSE = "propose_adverse"
    APPROVE_ADVERSE = "approve_adverse"
    REJECT_ADVERSE = "reject_adverse"
    DISPUTE = "dispute"
    RESOLVE_DISPUTE = "resolve_dispute"
    FINALIZE_ADVERSE = "finalize_adverse"
    CANCEL = "cancel"
    EXPIRE = "expire"


class Role(StrEnum):
    HR = "hr"
    REVIEWER = "reviewer"
    MANAGER = "manager"
    AUDITOR = "auditor"
    ADMIN = "admin"
    CANDIDATE = "candidate"
    VENDOR = "vendor"
    SYSTEM = "system"


class Effect(StrEnum):
    """What the service must do, in the same transaction, when it applies a decision."""

    ISSUE_INVITATION = "issue_invitation"
    RECORD_CONSENT = "record_consent"
    RECORD_IDENTITY_VERIFICATION = "record_identity_verification"
    QUEUE_VENDOR_ORDER = "queue_vendor_order"
    RECORD_VENDOR_STATUS = "record_vendor_status"
    STORE_REPORT = "store_report"
    RECORD_ASSIGNMENT = "record_assignment"
    RECORD_ASSESSMENT = "record_assessment"
    ISSUE_PRE_ADVERSE_NOTICE = "issue_pre_adverse_notice"
    START_WAITING_PERIOD = "start_waiting_period"
    WITHDRAW_PROPOSAL = "withdraw_proposal"
    RECORD_DISPUTE = "record_dispute"
    REQUEST_REINVESTIGATION = "request_reinvestigation"
    CLOSE_DISPUTE = "close_dispute"
    ISSUE_FINAL_NOTICE = "issue_final_notice"
    CANCEL_VENDOR_ORDER = "cancel_vendor_order"
    REVOKE_PORTAL_LINKS = "revoke_portal_links"
    CLOSE_CASE = "close_case"
    ANNOUNCE_COMPLETION = "announce_completion"


FINAL_STATES: Final = frozenset({State.CLEARED, State.NOT_CLEARED, State.CANCELLED, State.EXPIRED})

# Roles held by people with accounts. The candidate, the vendor and the scheduler are
# parties to the case by construction, so "not your own case" applies to staff only.
STAFF_ROLES: Final = frozenset({Role.HR, Role.REVIEWER, Role.MANAGER, Role.AUDITOR, Role.ADMIN})

# Read by the docs generator, and by whoever writes the service that applies effects.
EFFECT_MEANINGS: Final[Mapping[Effect, str]] = MappingProxyType(
    {
        Effect.ISSUE_INVITATION: (
            "create a single-use portal link for the candidate that expires at "
            "`Decision.invitation_expires_at`, revoke any earlier one, and send it"
        ),
        Effect.RECORD_CONSENT: (
            "seal the candidate's PII from the payload, store the disclosure version, the "
            "signature and the CORI acknowledgement time (= `consent_at`); consume the link"
        ),
        Effect.RECORD_IDENTITY_VERIFICATION: (
            "store the ID type and last 4, the verifier (the actor) and the time "
            "(= `identity_verified_at`)"
        ),
        Effect.QUEUE_VENDOR_ORDER: "put the vendor order in the outbox",
        Effect.RECORD_VENDOR_STATUS: "store the vendor's reference and processing status",
        Effect.STORE_REPORT: (
            "store the vendor report encrypted and the vendor result beside the state; "
            "the vendor order is no longer open"
        ),
        Effect.RECORD_ASSIGNMENT: (
            "set `assigned_to` to `Decision.assignee` (the actor for `claim`; for `assign` "
            "the payload's assignee, which the service resolves to a reviewer or manager)"
        ),
        Effect.RECORD_ASSESSMENT: (
            "store the individualized assessment and set `proposed_by` to the actor"
        ),
        Effect.ISSUE_PRE_ADVERSE_NOTICE: (
            "generate the pre-adverse notice (report copy and source, findings relied on, "
            "FCRA Summary of Rights, CORI policy and correction process, the deadline), "
            "store it encrypted, issue a portal link, e-mail it to the candidate and log "
            "the CORI dissemination"
        ),
        Effect.START_WAITING_PERIOD: (
            "store `Decision.adverse_deadline` (never recompute it later)"
        ),
        Effect.WITHDRAW_PROPOSAL: (
            "clear `proposed_by` and `adverse_deadline`: a new adverse action needs a new "
            "proposal, approval and notice"
        ),
        Effect.RECORD_DISPUTE: (
            "seal the candidate's statement, mark a dispute open and e-mail the candidate "
            "that it was received"
        ),
        Effect.REQUEST_REINVESTIGATION: (
            "put a job in the outbox asking the vendor to reinvestigate"
        ),
        Effect.CLOSE_DISPUTE: "store the reinvestigation outcome and mark the dispute closed",
        Effect.ISSUE_FINAL_NOTICE: (
            "generate the final adverse-action notice (vendor name, address and phone; the "
            "vendor did not decide; free copy within 60 days; right to dispute), store it "
            "encrypted, issue a portal link, e-mail it to the candidate and log the CORI "
            "dissemination"
        ),
        Effect.CANCEL_VENDOR_ORDER: (
            "cancel the queued or placed vendor order (outbox job, or drop the unsent one)"
        ),
        Effect.REVOKE_PORTAL_LINKS: "invalidate every open portal link of the case",
        Effect.CLOSE_CASE: ("record the closing time; the retention period is counted from it"),
        Effect.ANNOUNCE_COMPLETION: (
            "e-mail the candidate that their check is complete, without the outcome (a "
            "decision only: cancelled and expired cases do not announce it)"
        ),
    }
)
