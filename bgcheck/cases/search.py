"""Finding a case by the candidate's email, SSN or family name + date of birth.

A role searches only by keys whose values it may read in full (hr: the email; reviewers
and managers: the SSN and the date of birth too): otherwise the answer "one match" would
tell hr a value the masking hides, and the whole SSN space falls to a loop. Every search
is an audit event naming the kind of key, never its value, and searches are limited per
user. The key travels in a request body, never in a URL (access logs, browser history).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final

from sqlmodel import Session

from bgcheck import audit, policy
from bgcheck.cases import views as case_views
from bgcheck.cases.context import CaseContext
from bgcheck.cases.queries import CaseFilter, SearchBy, SearchKey
from bgcheck.crypto import NormalizationError
from bgcheck.identity.actors import Actor
from bgcheck.platform import ratelimit
from bgcheck.platform.errors import Forbidden, InvalidInput, TooManyAttempts

# What a role must be allowed to read in full to search by each kind of key.
NEEDS: Final = {
    SearchBy.EMAIL: policy.Action.READ_CASE_CONTACT,
    SearchBy.SSN: policy.Action.REVEAL_PII,
    SearchBy.NAME_DOB: policy.Action.REVEAL_PII,
}


def allowed_keys(actor: Actor) -> list[SearchBy]:
    """The kinds of key this actor may search by (none without the search grant)."""
    if not policy.granted(actor, policy.Action.SEARCH_CASES):
        return []
    return [by for by, action in NEEDS.items() if policy.granted(actor, action)]


def search_cases(
    session: Session,
    ctx: CaseContext,
    actor: Actor,
    *,
    email: str | None = None,
    ssn: str | None = None,
    family_name: str | None = None,
    date_of_birth: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime,
) -> case_views.SeenPage:
    """The visible cases whose candidate matches one exact key, as the actor sees them."""
    policy.require(actor, policy.Action.SEARCH_CASES)
    by = _kind(email, ssn, family_name, date_of_birth)
    if by not in allowed_keys(actor):
        raise Forbidden("your roles may search by the candidate's email only")
    _count(session, ctx, actor, now)
    try:
        if email is not None:
            index = ctx.vault.email_index(email)
        elif ssn is not None:
            index = ctx.vault.ssn_index(ssn)
        elif family_name is not None and date_of_birth is not None:
            index = ctx.vault.name_dob_index(family_name, date_of_birth)
        else:  # pragma: no cover  (_kind let exactly one key through)
            raise AssertionError(by)
    except NormalizationError:
        raise InvalidInput(_INVALID[by]) from None
    found = case_views.listing(
        session,
        ctx,
        actor,
        CaseFilter(key=SearchKey(by, index)),
        limit=limit,
        cursor=cursor,
        now=now,
    )
    audit.record(
        session,
        actor.audit_actor,
        action="search.performed",
        data={"by": by.value, "matches": len(found.items), "page": cursor is not None},
        now=now,
    )
    return found


_INVALID: Final = {
    SearchBy.EMAIL: "email: enter the candidate's whole email address, like name@example.org",
    SearchBy.SSN: "ssn: enter the 9 digits of the Social Security number, like 123-45-6789",
    SearchBy.NAME_DOB: "family_name: enter the candidate's family name (letters) with their "
    "date of birth",
}


def _kind(
    email: str | None, ssn: str | None, family_name: str | None, date_of_birth: date | None
) -> SearchBy:
    given = {
        SearchBy.EMAIL: email is not None,
        SearchBy.SSN: ssn is not None,
        SearchBy.NAME_DOB: family_name is not None or date_of_birth is not None,
    }
    kinds = [by for by, present in given.items() if present]
    if len(kinds) != 1:
        raise InvalidInput("send exactly one key: email, or ssn, or family_name with date_of_birth")
    if kinds[0] is SearchBy.NAME_DOB and (family_name is None or date_of_birth is None):
        raise InvalidInput("family_name and date_of_birth: send both to search by them")
    return kinds[0]


def _count(session: Session, ctx: CaseContext, actor: Actor, now: datetime) -> None:
    settings = ctx.settings
    window = timedelta(minutes=settings.search_window_minutes)
    counted = ratelimit.hit(
        session, ratelimit.key("search", str(actor.user_id)), window=window, now=now
    )
    if counted.count > settings.search_max_per_window:
        if counted.count == settings.search_max_per_window + 1:
            audit.record(
                session,
                actor.audit_actor,
                action="search.limited",
                data={
                    "limit": settings.search_max_per_window,
                    "minutes": settings.search_window_minutes,
                },
                now=now,
            )
        seconds = counted.retry_after(now)
        raise TooManyAttempts(
            f"too many searches; you may search {settings.search_max_per_window} times in "
            f"{settings.search_window_minutes} minutes. Try again in {seconds} second"
            + ("" if seconds == 1 else "s"),
            retry_after_seconds=seconds,
        )
