"""The administrators' pages: the embedded mailbox ("Sent mail") and the outbox.

Both read through bgcheck's services, as the CLI and the API do: the mailbox through
``bgcheck.mail.mailbox`` (``bgcheck mail list/show``), the outbox through
``bgcheck.vendors.orders`` (``GET /api/v1/admin/jobs``, ``…/retry``). Admin only, by
``bgcheck.policy``: every other role gets 403. Docs: docs/notifications.md, docs/pages.md.
"""

from __future__ import annotations

import uuid
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import AppSettings, DbSession, ReadSession
from api.pages.web import PageActor, PageReader, PageRoute, SignedForm, render
from bgcheck import policy
from bgcheck.mail import mailbox
from bgcheck.models import utcnow
from bgcheck.vendors import orders as vendor_orders

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MAIL_LIMIT: Final = 200  # the newest messages; the CLI lists them all
JOBS_LIMIT: Final = 200
RETRIED: Final = "The job is back in the queue with a fresh set of attempts."


@router.get("/admin/mail")
def sent_mail(request: Request, actor: PageReader, settings: AppSettings) -> Response:
    """The embedded mailbox, newest first; with SMTP configured, a sentence saying so."""
    policy.require(actor, policy.Action.READ_MAILBOX)
    embedded = mailbox.embedded(settings)
    found = mailbox.stored_messages(settings.mail_dir) if embedded else []
    context = {
        "embedded": embedded,
        "messages": list(reversed(found))[:MAIL_LIMIT],
        "total": len(found),
    }
    return render(request, "sent_mail.html", context, actor=actor)


@router.get("/admin/mail/{key}")
def sent_message(
    request: Request, key: str, db: DbSession, actor: PageActor, settings: AppSettings
) -> Response:
    """One message as its text part (the link a candidate would follow); audited."""
    policy.require(actor, policy.Action.READ_MAILBOX)
    embedded = mailbox.embedded(settings)
    shown = (
        mailbox.read_audited(db, actor.audit_actor, settings.mail_dir, key, now=utcnow())
        if embedded
        else None
    )
    return render(request, "sent_message.html", {"shown": shown}, actor=actor)


@router.get("/admin/outbox")
def outbox(request: Request, db: ReadSession, actor: PageReader) -> Response:
    """Jobs waiting, retrying and dead: kinds, case ids, attempts, error classes; no PII."""
    policy.require(actor, policy.Action.MANAGE_JOBS)
    jobs = vendor_orders.jobs(db, None, JOBS_LIMIT)
    done = RETRIED if request.query_params.get("done") == "retried" else None
    return render(request, "outbox.html", {"jobs": jobs, "done": done}, actor=actor)


@router.post("/admin/outbox/{job_id}/retry")
def retry(job_id: uuid.UUID, db: DbSession, actor: PageActor, form: SignedForm) -> Response:
    """Send a dead job back to the queue (audited by ``retry_dead``, as from the API)."""
    policy.require(actor, policy.Action.MANAGE_JOBS)
    vendor_orders.retry_dead(db, actor.audit_actor, job_id, utcnow())
    return RedirectResponse("/admin/outbox?done=retried", status_code=303)
