"""The vault's repository layer: batch contacts, shredded cases, keyring reloads, key cache."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, delete

from bgcheck.cases.service import CaseContext
from bgcheck.crypto import (
    DecryptionError,
    KeyNotFound,
    Keyring,
    NormalizationError,
    WrappedKey,
    email_index,
    mailbox_index,
    rewrap,
    rotate_keyring_file,
    seal_json,
)
from bgcheck.models import Candidate, CaseKey, utcnow
from bgcheck.platform.settings import Settings
from bgcheck.vault.store import CANDIDATES, NO_CONTACT, Contact, Shredded, Vault, forget_keys
from workflow import Role

from support.cases import CASE, case_context, new_case
from support.factories import make_actor

EXPECTED = Contact(**CASE["candidate"])  # type: ignore[arg-type]


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / "keyring.json"
    Keyring.generate().save(path)
    return path


@pytest.fixture
def ctx(tmp_path: Path, keyring_file: Path) -> CaseContext:
    return case_context(Settings(data_dir=tmp_path, keyring_file=keyring_file))


def test_contacts_of_a_page_match_one_by_one_and_cover_every_id(
    db: Session, ctx: CaseContext
) -> None:
    hr = make_actor(db, Role.HR)
    ids = [new_case(db, ctx, hr, utcnow()) for _ in range(3)]
    unknown = uuid.uuid4()
    page = ctx.vault.contacts(db, [*ids, unknown])
    assert page == {**dict.fromkeys(ids, EXPECTED), unknown: Contact(None, None, None)}
    assert all(ctx.vault.contact(db, case_id) == EXPECTED for case_id in ids)
    assert ctx.vault.contacts(db, []) == {}


def test_a_shredded_case_has_an_empty_contact_but_no_details(db: Session, ctx: CaseContext) -> None:
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, ctx, hr, utcnow())
    db.exec(delete(CaseKey).where(CaseKey.case_id == case_id))  # type: ignore[call-overload]
    db.expire_all()
    assert ctx.vault.contact(db, case_id) == Contact(None, None, None)
    with pytest.raises(Shredded):
        ctx.vault.details(db, case_id)


def test_a_vault_reloads_its_keyring_once_for_an_unknown_kek(
    db: Session, ctx: CaseContext, keyring_file: Path
) -> None:
    reloads: list[int] = []

    def reload() -> Keyring:
        reloads.append(1)
        return Keyring.load(keyring_file)

    stale = Vault(ctx.vault.keyring, reload=reload)
    rotated = rotate_keyring_file(keyring_file)
    fresh = CaseContext.from_settings(ctx.settings, Vault(rotated))
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, fresh, hr, utcnow())  # wrapped under the new KEK

    assert stale.contact(db, case_id) == EXPECTED
    assert stale.contact(db, case_id) == EXPECTED
    assert reloads == [1]  # the second read already had the new keyring

    lost = Keyring.generate()
    orphan = new_case(db, CaseContext.from_settings(ctx.settings, Vault(lost)), hr, utcnow())
    with pytest.raises(KeyNotFound):
        stale.contact(db, orphan)
    with pytest.raises(KeyNotFound):
        stale.contact(db, orphan)
    assert len(reloads) <= 2  # at most one reload per interval, however many reads fail


# -- the key cache ----------------------------------------------------------------------------


def stored_key(db: Session, case_id: uuid.UUID) -> bytes:
    row = db.get(CaseKey, case_id)
    assert row is not None
    return row.wrapped


def test_a_page_read_again_reuses_the_keys_unwrapped_the_first_time(
    db: Session, ctx: CaseContext
) -> None:
    hr = make_actor(db, Role.HR)
    ids = [new_case(db, ctx, hr, utcnow()) for _ in range(3)]
    assert ctx.vault.contacts(db, ids) == dict.fromkeys(ids, EXPECTED)
    remembered = {
        case_id: ctx.vault.key_cache.get(case_id, stored_key(db, case_id)) for case_id in ids
    }
    assert all(remembered.values())
    assert ctx.vault.contacts(db, ids) == dict.fromkeys(ids, EXPECTED)
    # A fresh unwrap would build a new key object: these are the ones the first read made.
    assert all(ctx.vault.key(db, case_id) is remembered[case_id] for case_id in ids)


def test_a_re_wrapped_key_is_unwrapped_again(db: Session, ctx: CaseContext) -> None:
    rotated = ctx.vault.keyring.rotate()
    vault = Vault(rotated)
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, ctx, hr, utcnow())
    before = vault.key(db, case_id)
    row = db.get(CaseKey, case_id)
    assert row is not None
    moved = rewrap(rotated, WrappedKey.from_bytes(row.wrapped), case_id=case_id)
    row.kek_id, row.wrapped = moved.kek_id, moved.to_bytes()
    db.add(row)
    db.flush()
    after = vault.key(db, case_id)
    assert after is not before
    assert (after.id, after.key) == (before.id, before.key)  # rotation keeps the data key
    assert vault.contact(db, case_id) == EXPECTED


def test_a_tampered_wrapped_key_is_refused_even_with_the_original_cached(
    db: Session, ctx: CaseContext
) -> None:
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, ctx, hr, utcnow())
    assert ctx.vault.contact(db, case_id) == EXPECTED
    row = db.get(CaseKey, case_id)
    assert row is not None
    row.wrapped = row.wrapped[:-1] + bytes([row.wrapped[-1] ^ 1])
    db.add(row)
    db.flush()
    with pytest.raises(DecryptionError):
        ctx.vault.contact(db, case_id)


def test_a_case_shredded_elsewhere_stays_unreadable_though_its_key_is_cached(
    db: Session, ctx: CaseContext
) -> None:
    """Another process purged the case: this one's cache still holds the key, unreachably."""
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, ctx, hr, utcnow())
    wrapped = stored_key(db, case_id)
    assert ctx.vault.contacts(db, [case_id]) == {case_id: EXPECTED}
    db.exec(delete(CaseKey).where(CaseKey.case_id == case_id))  # type: ignore[call-overload]
    db.expire_all()
    assert ctx.vault.key_cache.get(case_id, wrapped) is not None
    assert ctx.vault.contacts(db, [case_id]) == {case_id: NO_CONTACT}
    assert ctx.vault.contact(db, case_id) == NO_CONTACT
    with pytest.raises(Shredded):
        ctx.vault.key(db, case_id)
    with pytest.raises(Shredded):
        ctx.vault.details(db, case_id)


def test_forget_keys_reaches_every_vault_of_the_process(db: Session, ctx: CaseContext) -> None:
    other = Vault(ctx.vault.keyring)
    hr = make_actor(db, Role.HR)
    case_id, kept = new_case(db, ctx, hr, utcnow()), new_case(db, ctx, hr, utcnow())
    for vault in (ctx.vault, other):
        vault.contacts(db, [case_id, kept])
    forget_keys([case_id])
    for vault in (ctx.vault, other):
        assert vault.key_cache.get(case_id, stored_key(db, case_id)) is None
        assert vault.key_cache.get(kept, stored_key(db, kept)) is not None


def test_the_cache_lifetime_is_a_setting_and_zero_turns_it_off(
    db: Session, ctx: CaseContext, tmp_path: Path, keyring_file: Path
) -> None:
    settings = Settings(data_dir=tmp_path, keyring_file=keyring_file, vault_key_cache_seconds=0)
    vault = Vault.from_settings(settings)
    assert vault.key_cache.ttl_seconds == 0
    assert Vault.from_settings(ctx.settings).key_cache.ttl_seconds == 60
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, ctx, hr, utcnow())
    assert vault.contact(db, case_id) == EXPECTED
    assert vault.key(db, case_id) is not vault.key(db, case_id)


def test_a_keyring_reload_starts_the_cache_afresh(
    db: Session, ctx: CaseContext, keyring_file: Path
) -> None:
    stale = Vault(ctx.vault.keyring, reload=lambda: Keyring.load(keyring_file))
    hr = make_actor(db, Role.HR)
    earlier = new_case(db, ctx, hr, utcnow())
    key = stale.key(db, earlier)
    fresh = CaseContext.from_settings(ctx.settings, Vault(rotate_keyring_file(keyring_file)))
    stale.key(db, new_case(db, fresh, hr, utcnow()))  # an unknown KEK: reloads
    assert stale.key_cache.get(earlier, stored_key(db, earlier)) is None
    assert stale.key(db, earlier) is not key


def test_the_contact_is_one_sealed_value_bound_to_its_row(db: Session, ctx: CaseContext) -> None:
    hr = make_actor(db, Role.HR)
    first, second = (new_case(db, ctx, hr, utcnow()) for _ in range(2))
    row = db.get(Candidate, first)
    assert row is not None
    assert row.contact is not None
    assert CASE["candidate"]["email"].encode() not in row.contact  # type: ignore[index]
    other = db.get(Candidate, second)
    assert other is not None
    other.contact = row.contact  # moved to another case: it must not open there
    db.add(other)
    db.flush()
    db.expire_all()
    with pytest.raises(DecryptionError):
        ctx.vault.contacts(db, [second])


@pytest.mark.parametrize("given_name", [5, ["Jo"], {"a": "b"}, True])
def test_a_contact_field_that_is_not_text_is_refused(
    db: Session, ctx: CaseContext, given_name: object
) -> None:
    """Only ``_store`` writes the sealed contact: anything else in it is refused, not shown."""
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, ctx, hr, utcnow())
    row = db.get(Candidate, case_id)
    assert row is not None
    fields = {"given_name": given_name, "family_name": "Doe", "email": None, "ssn_last4": None}
    place = {"table": CANDIDATES, "column": "contact", "row_id": case_id}
    row.contact = seal_json(ctx.vault.key(db, case_id), fields, **place)
    db.add(row)
    db.flush()
    db.expire_all()
    with pytest.raises(DecryptionError, match="not text"):
        ctx.vault.contacts(db, [case_id, uuid.uuid4()])
    with pytest.raises(DecryptionError, match="not text"):
        ctx.vault.contact(db, case_id)


def test_consent_adds_the_ssn_digits_and_keeps_the_email(db: Session, ctx: CaseContext) -> None:
    hr = make_actor(db, Role.HR)
    case_id = new_case(db, ctx, hr, utcnow())
    dek = ctx.vault.key(db, case_id)
    ctx.vault.store_details(
        db,
        dek,
        case_id,
        given_name="Patricia",
        family_name="Candidate",
        date_of_birth=date(1990, 5, 17),
        ssn="123-45-6789",
        details={},
    )
    db.flush()
    db.expire_all()
    email = CASE["candidate"]["email"]  # type: ignore[index]
    assert ctx.vault.contact(db, case_id) == Contact("Patricia", "Candidate", email, "6789")


@given(st.emails() | st.text(max_size=30))
def test_an_actors_identity_holds_the_blind_indexes_of_their_email(email: str) -> None:
    """Remembered per process, it still answers what ``email_index`` answers, or None."""
    keyring = Keyring.generate()
    vault = Vault(keyring)
    root = keyring.blind_index_root_key
    try:
        expected: tuple[str | None, str | None] = (
            email_index(root, email),
            mailbox_index(root, email),
        )
    except NormalizationError:
        expected = (None, None)
    staff = SimpleNamespace(email=email, ssn_index="s", name_dob_index=None)
    identity = vault.actor_identity(staff)  # type: ignore[arg-type]
    assert (identity.email, identity.mailbox) == expected
    assert (identity.ssn, identity.name_dob) == ("s", None)
    assert vault.actor_identity(staff) == identity  # type: ignore[arg-type]  # remembered
    other = Vault(Keyring.generate())  # another root key: never the first one's answer
    other_identity = other.actor_identity(staff)  # type: ignore[arg-type]
    assert other_identity.email != expected[0] or expected[0] is None
