"""The vault's repository layer: batch contacts, shredded cases, keyring reloads."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlmodel import Session, delete

from bgcheck.models import CaseKey, utcnow
from bgcheck.pii import Contact, Shredded, Vault
from bgcheck.services.cases import CaseContext
from bgcheck.settings import Settings
from bgcheck.vault import KeyNotFound, Keyring, rotate_keyring_file
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
