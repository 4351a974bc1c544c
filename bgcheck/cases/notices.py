"""The FCRA adverse-action notices, generated from the case (and stored sealed by the caller).

A notice is a structured document (a dict of sections) rather than HTML or PDF, so the
portal page, the API and the candidate's copy all render the same content. Texts that do
not depend on the case live here, versioned with the code.
"""

from __future__ import annotations

from typing import Any, Final

from sqlmodel import Session

from bgcheck.cases.context import CaseContext
from bgcheck.models import Case, DocumentKind
from workflow import Decision

SUMMARY_OF_RIGHTS: Final = (
    "A Summary of Your Rights Under the Fair Credit Reporting Act (CFPB form, "
    "12 CFR 1022, Appendix K). You have the right to be told if information in your file "
    "has been used against you; to know what is in your file; to ask for a credit score; to "
    "dispute incomplete or inaccurate information; to have inaccurate, incomplete or "
    "unverifiable information corrected or deleted; and to seek damages from violators. "
    "Full text: https://www.consumerfinance.gov/learnmore/"
)
CORI_POLICY: Final = (
    "Our CORI policy follows 803 CMR 2.00 and 5.00: criminal offender record information is "
    "requested only with your written acknowledgement, is seen only by staff with a need to "
    "know, is never the sole basis of a decision without an individualized assessment, and "
    "is kept confidential."
)
CORI_CORRECTION: Final = (
    "To correct your CORI (803 CMR 2.20): ask the Department of Criminal Justice Information "
    "Services (DCJIS) for your own record, and contact the court or agency that holds the "
    "inaccurate record; DCJIS explains how at https://www.mass.gov/cori. You may also "
    "dispute the report with the screening vendor named below."
)


def render(
    session: Session, ctx: CaseContext, case: Case, kind: DocumentKind, decision: Decision
) -> dict[str, Any]:
    settings = ctx.settings
    vendor = {
        "name": settings.vendor_name,
        "address": settings.vendor_address,
        "phone": settings.vendor_phone,
    }
    assessments = ctx.vault.documents(session, case.id, DocumentKind.ASSESSMENT)
    findings = assessments[-1].get("findings", []) if assessments else []
    report = ctx.vault.documents(session, case.id, DocumentKind.REPORT)
    common = {
        "kind": kind.value,
        "issued_at": decision.at.isoformat(),
        "organisation": settings.org_name,
        "position_title": case.position_title,
        "source": vendor,
        "findings_relied_on": findings,
        "report": report[-1] if report else None,
    }
    if kind is DocumentKind.PRE_ADVERSE_NOTICE:
        return common | {
            "title": "Pre-adverse action notice",
            "dispute_deadline": decision.adverse_deadline.isoformat()
            if decision.adverse_deadline
            else None,
            "summary_of_rights": SUMMARY_OF_RIGHTS,
            "cori_policy": CORI_POLICY,
            "cori_correction": CORI_CORRECTION,
            "what_now": (
                "We have not made a final decision. Before the deadline you may tell us, "
                "through this page, that the report is wrong or incomplete, or give us "
                "information about the findings."
            ),
        }
    return common | {
        "title": "Adverse action notice",
        "decision": "We are not able to proceed with your employment for this position.",
        "vendor_did_not_decide": (
            f"{vendor['name']} supplied the report but did not make this decision and "
            "cannot explain why it was made."
        ),
        "free_copy": (
            "You may ask the vendor for a free copy of your report within 60 days of this "
            "notice, and dispute with the vendor the accuracy or completeness of anything "
            "in it."
        ),
        "summary_of_rights": SUMMARY_OF_RIGHTS,
    }
