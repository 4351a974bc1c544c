"""Table models. Importing this package registers every table on ``SQLModel.metadata``.

Table models skip validation: requests are validated by the schemas in ``api/schemas``
and by the services before a row is built.
"""

from bgcheck.models.audit import AuditChainHead, AuditCheckpoint, AuditEvent
from bgcheck.models.auth import CandidateLink, LinkPurpose, LoginThrottle, RevokedToken
from bgcheck.models.base import UTCDateTime, new_id, table_of, utcnow
from bgcheck.models.cases import (
    Candidate,
    Case,
    CaseDocument,
    CaseKey,
    DocumentKind,
    IdempotentResponse,
    JobKind,
    JobStatus,
    OutboxJob,
)
from bgcheck.models.departments import Department
from bgcheck.models.dissemination import Dissemination
from bgcheck.models.security import (
    AccountLink,
    AccountLinkPurpose,
    Approval,
    ApprovalKind,
    ApprovalStatus,
    RateCounter,
    RecoveryCode,
)
from bgcheck.models.users import User, UserDepartment, UserRole
from bgcheck.models.vendors import VendorWebhook

__all__ = [
    "AccountLink",
    "AccountLinkPurpose",
    "Approval",
    "ApprovalKind",
    "ApprovalStatus",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "Candidate",
    "CandidateLink",
    "Case",
    "CaseDocument",
    "CaseKey",
    "Department",
    "Dissemination",
    "DocumentKind",
    "IdempotentResponse",
    "JobKind",
    "JobStatus",
    "LinkPurpose",
    "LoginThrottle",
    "OutboxJob",
    "RateCounter",
    "RecoveryCode",
    "RevokedToken",
    "UTCDateTime",
    "User",
    "UserDepartment",
    "UserRole",
    "VendorWebhook",
    "new_id",
    "table_of",
    "utcnow",
]
