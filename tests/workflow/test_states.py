"""The vocabulary matches the SPEC and every effect is explained and used."""

from workflow import EFFECT_MEANINGS, FINAL_STATES, TABLE, Effect, Event, State


def test_the_spec_states_and_events() -> None:
    assert [s.value for s in State] == [
        "draft", "awaiting_consent", "consent_received", "ready", "submitted", "in_progress",
        "pending_review", "under_review", "cleared", "adverse_proposed", "pre_adverse_notice",
        "disputed", "not_cleared", "cancelled", "expired",
    ]  # fmt: skip
    assert len(Event) == 18
    assert {State.CLEARED, State.NOT_CLEARED, State.CANCELLED, State.EXPIRED} == FINAL_STATES


def test_every_effect_is_explained_and_asked_for_by_some_row() -> None:
    assert set(EFFECT_MEANINGS) == set(Effect)
    assert {effect for row in TABLE for effect in row.effects} == set(Effect)
