"""Every event staff fire from a page has its label, confirmation, form body and fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.pages import cases as case_pages
from api.pages import forms
from workflow import STAFF_EVENTS, Event

TEMPLATE = Path(case_pages.__file__).parents[1] / "templates" / "case.html"


def test_the_staff_events_are_those_of_the_case_page() -> None:
    assert set(STAFF_EVENTS) == set(case_pages.EVENT_LABELS) == set(forms.EVENT_BODIES)
    assert Event.CONSENT not in STAFF_EVENTS  # the candidate's, on the portal
    case_pages.check_event_pages()


@pytest.mark.parametrize("table", ["labels", "done", "bodies"])
def test_a_missing_entry_fails_the_check(table: str) -> None:
    tables = {
        "labels": dict(case_pages.EVENT_LABELS),
        "done": dict(case_pages.DONE),
        "bodies": dict(forms.EVENT_BODIES),
    }
    del tables[table][Event.RESOLVE_DISPUTE]
    with pytest.raises(TypeError, match="resolve_dispute"):
        case_pages.check_event_pages(**tables)  # type: ignore[arg-type]


def test_the_case_page_has_fields_for_every_staff_event() -> None:
    text = TEMPLATE.read_text()
    missing = [event.value for event in STAFF_EVENTS if f'"{event.value}"' not in text]
    assert not missing, f"api/templates/case.html has no branch for {missing}"
