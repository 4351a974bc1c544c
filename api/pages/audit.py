"""The auditor's page: filtered downloads of the audit trail and the CORI dissemination
log, and the chain's verification. The downloads are the API's own streamed exports
(``api.downloads``), so a page export is exactly an API export, audited the same way.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData

from api import downloads
from api.deps import AppEngine, CaseCtx, ReadSession
from api.downloads import STREAMED
from api.pages.forms import FormErrors, text
from api.pages.web import PageActor, PageReader, PageRoute, SignedForm, render
from api.schemas.audit import AuditVerification
from bgcheck import audit, policy
from bgcheck.audit import export as exports
from bgcheck.audit.dissemination_queries import DisseminationFilter
from bgcheck.identity.actors import Actor

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _may_open(actor: Actor) -> None:
    if not policy.granted(actor, policy.Action.READ_DISSEMINATION_LOG):
        policy.require(actor, policy.Action.EXPORT_AUDIT)


@router.get("/audit")
def audit_page(
    request: Request, db: ReadSession, actor: PageReader, ctx: CaseCtx, check: str | None = None
) -> Response:
    _may_open(actor)
    verification = None
    if check == "1":
        policy.require(actor, policy.Action.VERIFY_AUDIT)
        verification = AuditVerification.of(audit.verify_signed(db, ctx.vault.keyring))
    return _page(request, actor, verification=verification)


def _page(
    request: Request,
    actor: Actor,
    *,
    verification: Any = None,
    errors: FormErrors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    grants = {action.value for action in policy.Action if policy.granted(actor, action)}
    return render(
        request,
        "audit.html",
        {
            "grants": grants,
            "verification": verification,
            "errors": errors or FormErrors(),
            "values": values or {},
        },
        status=status,
        actor=actor,
    )


class _Filters:
    """The form's filters, parsed; ``errors`` names each field that did not parse."""

    def __init__(self, form: Any) -> None:
        self.errors = FormErrors()
        self.format = text(form, "format") or "csv"
        if self.format not in ("csv", "jsonl"):
            self.errors.fields["format"] = "Choose CSV or JSON Lines."
        self.since = self._time(form, "since")
        self.until = self._time(form, "until")
        self.case_id: uuid.UUID | None = None
        if raw := text(form, "case_id"):
            try:
                self.case_id = uuid.UUID(raw.strip())
            except ValueError:
                self.errors.fields["case_id"] = "A case id looks like 8-4-4-4-12 hex digits."
        self.actor = text(form, "actor")
        self.type = text(form, "type")
        for name in ("actor", "type"):
            value = getattr(self, name)
            if value is not None and len(value.strip()) > 64:
                self.errors.fields[name] = "At most 64 characters."
            elif value is not None:
                setattr(self, name, value.strip())

    def _time(self, form: Any, name: str) -> datetime | None:
        raw = text(form, name)
        if raw is None:
            return None
        try:
            return datetime.fromisoformat(raw.strip())
        except ValueError:
            self.errors.fields[name] = "Use a date and time, e.g. 2026-03-01T09:00 (UTC)."
            return None


def _refilled(request: Request, actor: Actor, form: FormData, filters: _Filters) -> Response:
    """The page again, with the filters as typed and what is wrong with them."""
    return _page(request, actor, errors=filters.errors, values=dict(form.items()), status=422)


# What the downloads serve, declared as the API's routes declare it:
# tests/api/test_csv_exports.py finds every route that serves CSV this way.
DOWNLOAD: dict[int | str, dict[str, Any]] = {200: STREAMED[200]}


@router.post("/audit/events", responses=DOWNLOAD)
def download_events(
    request: Request, engine: AppEngine, actor: PageActor, form: SignedForm
) -> Response:
    policy.require(actor, policy.Action.EXPORT_AUDIT)
    filters = _Filters(form)
    if filters.errors:
        return _refilled(request, actor, form, filters)
    return downloads.audit_events(
        engine,
        actor.audit_actor,
        fmt=filters.format,  # type: ignore[arg-type]
        filters=exports.ExportFilters(
            since=downloads.utc(filters.since),
            until=downloads.utc(filters.until),
            case_id=str(filters.case_id) if filters.case_id else None,
            actor=filters.actor,
            type=filters.type,
        ),
        request_id=getattr(request.state, "request_id", None),
    )


@router.post("/audit/dissemination", responses=DOWNLOAD)
def download_dissemination(
    request: Request, engine: AppEngine, actor: PageActor, form: SignedForm
) -> Response:
    policy.require(actor, policy.Action.READ_DISSEMINATION_LOG)
    filters = _Filters(form)
    if filters.errors:
        return _refilled(request, actor, form, filters)
    return downloads.dissemination_log(
        engine,
        actor.audit_actor,
        fmt=filters.format,  # type: ignore[arg-type]
        filters=DisseminationFilter(
            since=downloads.utc(filters.since),
            until=downloads.utc(filters.until),
            case_id=filters.case_id,
        ),
        request_id=getattr(request.state, "request_id", None),
    )
