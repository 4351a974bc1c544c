"""The vault's repository layer: the only code that turns PII into stored bytes and back.

Each case gets its own data key, wrapped by the keyring's active KEK and kept in
``case_keys``. Candidate fields are sealed with it, bound to the ``candidates`` table, the
column and the case id; documents are bound to their own row id. Blind indexes are
computed here too, so searching never decrypts. Code outside this module and
``bgcheck.crypto`` never sees a key or a ciphertext.

Unwrapped data keys are remembered briefly (``KeyCache``, keyed by the wrapped bytes read
from the row): a reviewer reloading a list page does not unwrap the same 50 keys again.
Retention's purge calls ``forget_keys`` so this process drops a shredded case's key at
once; other processes let it go within the cache's TTL (docs/vault.md, "The key cache").
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Iterable
from datetime import date
from typing import Any, Final, NamedTuple, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bgcheck.crypto import (
    DataKey,
    DecryptionError,
    KeyCache,
    KeyNotFound,
    Keyring,
    NormalizationError,
    VaultError,
    WrappedKey,
    email_index,
    mailbox_index,
    name_dob_index,
    seal_json,
    ssn_index,
    ssn_last4,
    unseal_json,
    unseal_json_many,
    unwrap_stored,
    wrap,
)
from bgcheck.crypto.blind_index import NOBODY_KNOWN, Identity
from bgcheck.crypto.loading import load_keyring
from bgcheck.models import Candidate, CaseDocument, CaseKey, DocumentKind, table_of, utcnow
from bgcheck.platform.errors import Conflict
from bgcheck.platform.logs import get_logger
from bgcheck.platform.settings import Settings, SettingsError

CANDIDATES = "candidates"
DOCUMENTS = "case_documents"
# A key id this process does not know triggers at most one keyring reload per interval: a
# retired KEK (or a tampered row) must not make every request re-read the keyring.
RELOAD_INTERVAL_SECONDS = 5.0

log = get_logger(__name__)

# Every vault of this process, so that retention's purge can drop a shredded case's key
# from each one's cache (``forget_keys``); weak, so a vault still goes when unused.
_vaults: weakref.WeakSet[Vault] = weakref.WeakSet()
_vaults_lock = threading.Lock()


class Shredded(Conflict):
    """The case's data key was destroyed (retention): its PII is gone for good."""


class Staff(Protocol):
    """A signed-in ``Actor`` or a ``User`` row: what a staff member's identity is made of."""

    @property
    def email(self) -> str: ...
    @property
    def ssn_index(self) -> str | None: ...
    @property
    def name_dob_index(self) -> str | None: ...


class Contact(NamedTuple):
    """What hr (and the case list) may show: name, email, the SSN's last four digits.

    A named tuple, immutable like a frozen dataclass but made in half the time: a list
    page makes one per case.
    """

    given_name: str | None
    family_name: str | None
    email: str | None
    ssn_last4: str | None = None  # once the candidate consented

    @property
    def full_name(self) -> str | None:
        parts = [part for part in (self.given_name, self.family_name) if part]
        return " ".join(parts) or None


NO_CONTACT = Contact(None, None, None)
"""A case without a readable contact (none given, or shredded); frozen, so one serves all."""

# The contact's fields, in ``Contact`` order: sealed together in ``candidates.contact``.
CONTACT_FIELDS: Final = ("given_name", "family_name", "email", "ssn_last4")


def _contact_of(opened: Any) -> Contact:
    """The contact from its opened JSON; it was sealed by ``_store``, so this is a check."""
    fields = tuple(map(opened.get, CONTACT_FIELDS))
    if not _TEXT_OR_NONE.issuperset(map(type, fields)):  # no generator: one per case
        raise DecryptionError("candidates.contact: a field is not text")
    return Contact(*fields)


_TEXT_OR_NONE: Final = frozenset({str, type(None)})


class Vault:
    """Bound to one keyring; one per process (``app.state.vault``, the worker's).

    ``reload`` re-reads the keyring from its source. A rotation (``bgcheck keys rotate``)
    re-wraps data keys under a KEK that processes started earlier do not have yet; with
    ``reload`` such a process picks up the new keyring on the first key it cannot find,
    instead of failing every read of a re-wrapped case until it is restarted.

    ``key_cache`` remembers unwrapped data keys (a default ``KeyCache`` if not given).
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        reload: Callable[[], Keyring] | None = None,
        key_cache: KeyCache | None = None,
    ) -> None:
        self.keyring = keyring
        self._index_root = keyring.blind_index_root_key
        self._reload = reload
        self._reload_lock = threading.Lock()
        self._reloaded_at = float("-inf")
        self.key_cache = key_cache if key_cache is not None else KeyCache()
        with _vaults_lock:
            _vaults.add(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault of this process, reloading its keyring from the same settings."""
        return cls(
            load_keyring(settings),
            reload=lambda: load_keyring(settings),
            key_cache=KeyCache(ttl_seconds=settings.vault_key_cache_seconds),
        )

    # -- keys ---------------------------------------------------------------------------

    def create_key(self, session: Session, case_id: uuid.UUID) -> DataKey:
        dek = DataKey.generate()
        wrapped = wrap(self.keyring, dek, case_id=case_id)
        session.add(CaseKey(case_id=case_id, kek_id=wrapped.kek_id, wrapped=wrapped.to_bytes()))
        return dek

    def key(self, session: Session, case_id: uuid.UUID) -> DataKey:
        row = session.get(CaseKey, case_id)
        if row is None:
            raise Shredded("this case's personal data was destroyed under the retention policy")
        return self._unwrap(row.wrapped, case_id)

    def _unwrap(self, stored: bytes, case_id: uuid.UUID) -> DataKey:
        """``stored`` is the wrapped key just read from the case's row, never a remembered one."""
        dek = self.key_cache.get(case_id, stored)
        if dek is None:
            dek = self._unwrap_uncached(stored, case_id)
            self.key_cache.put(case_id, stored, dek)
        return dek

    def _unwrap_uncached(self, stored: bytes, case_id: uuid.UUID) -> DataKey:
        try:
            return unwrap_stored(self.keyring, stored, case_id=case_id)
        except KeyNotFound:
            if not self._reload_for(WrappedKey.from_bytes(stored).kek_id):
                raise
            return unwrap_stored(self.keyring, stored, case_id=case_id)

    def _reload_for(self, kek_id: str) -> bool:
        """Re-read the keyring (at most once per interval); True if it now has ``kek_id``."""
        if self._reload is None:
            return False
        with self._reload_lock:
            if not _has_kek(self.keyring, kek_id):
                now = time.monotonic()
                if now - self._reloaded_at < RELOAD_INTERVAL_SECONDS:
                    return False
                self._reloaded_at = now
                try:
                    fresh = self._reload()
                except (SettingsError, VaultError) as exc:
                    log.warning("could not reload the keyring", error=str(exc))
                    return False
                self.keyring, self._index_root = fresh, fresh.blind_index_root_key
                # Keys unwrapped under the old keyring are not answers of the new one (a
                # KEK may have been retired meanwhile): start the cache afresh.
                self.key_cache.clear()
                log.info("reloaded the keyring", active_kek=fresh.active_kek_id)
            return _has_kek(self.keyring, kek_id)

    # -- candidates -----------------------------------------------------------------------

    def store_contact(
        self,
        session: Session,
        dek: DataKey,
        case_id: uuid.UUID,
        *,
        given_name: str,
        family_name: str,
        email: str,
    ) -> Candidate:
        row = session.get(Candidate, case_id) or Candidate(case_id=case_id)
        before = self._row_contact(dek, row)
        self._store(dek, row, Contact(given_name, family_name, email, before.ssn_last4))
        row.email_index = email_index(self._index_root, email)
        row.mailbox_index = mailbox_index(self._index_root, email)
        row.updated_at = utcnow()
        session.add(row)
        return row

    def store_details(
        self,
        session: Session,
        dek: DataKey,
        case_id: uuid.UUID,
        *,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        ssn: str,
        details: dict[str, Any],
    ) -> None:
        """The consent's PII: names (again, as the candidate typed them), DOB, SSN, the rest."""
        row = session.get(Candidate, case_id) or Candidate(case_id=case_id)
        before = self._row_contact(dek, row)
        self._store(dek, row, Contact(given_name, family_name, before.email, ssn_last4(ssn)))
        payload = {**details, "date_of_birth": date_of_birth.isoformat(), "ssn": ssn}
        row.details = seal_json(dek, payload, table=CANDIDATES, column="details", row_id=case_id)
        row.ssn_index = ssn_index(self._index_root, ssn)
        row.name_dob_index = name_dob_index(self._index_root, family_name, date_of_birth)
        row.updated_at = utcnow()
        session.add(row)

    @staticmethod
    def _store(dek: DataKey, row: Candidate, contact: Contact) -> None:
        """The contact as one sealed value: one AES-GCM operation to read, not four."""
        fields = {name: getattr(contact, name) for name in CONTACT_FIELDS}
        row.contact = seal_json(dek, fields, table=CANDIDATES, column="contact", row_id=row.case_id)

    @staticmethod
    def _row_contact(dek: DataKey, row: Candidate) -> Contact:
        if row.contact is None:
            return NO_CONTACT
        return _contact_of(
            unseal_json(dek, row.contact, table=CANDIDATES, column="contact", row_id=row.case_id)
        )

    def contact(self, session: Session, case_id: uuid.UUID, dek: DataKey | None = None) -> Contact:
        """Name and email; empty once retention shredded the case, so lists still render."""
        if dek is not None:
            row = session.get(Candidate, case_id)
            return NO_CONTACT if row is None else self._row_contact(dek, row)
        return self.contacts(session, [case_id])[case_id]

    def contacts(
        self, session: Session, case_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Contact]:
        """The contacts of many cases in one query (a list page): no query per case.

        One round trip (``_CONTACTS_OF``) plus one AES-GCM operation per case, with the
        keys unwrapped for an earlier read taken from the key cache (see bench/vault.py).
        """
        found = dict.fromkeys(case_ids, NO_CONTACT)
        if not found:
            return found
        ids = list(found)
        if len(ids) == 1:  # a case page: = compiles and runs measurably faster than IN
            rows = session.execute(_CONTACT_OF, {"case_id": ids[0]})
        else:
            rows = session.execute(_CONTACTS_OF, {"case_ids": ids})
        readable = []  # (case id, wrapped key, sealed contact)
        for case_id, contact, wrapped in rows:
            # No key: shredded, the fields are unreadable (and nulled by retention).
            if wrapped is not None and contact is not None:
                readable.append((case_id, wrapped, contact))
        cached = self.key_cache.get_many((case_id, wrapped) for case_id, wrapped, _ in readable)
        unwrapped = []
        sealed = []  # (data key, sealed contact, case id): opened together below
        for (case_id, wrapped, contact), dek in zip(readable, cached, strict=True):
            if dek is None:
                dek = self._unwrap_uncached(wrapped, case_id)
                unwrapped.append((case_id, wrapped, dek))
            sealed.append((dek, contact, case_id))
        self.key_cache.put_many(unwrapped)
        opened = unseal_json_many(sealed, table=CANDIDATES, column="contact")
        for (_, _, case_id), fields in zip(sealed, opened, strict=True):
            found[case_id] = _contact_of(fields)
        return found

    def details(self, session: Session, case_id: uuid.UUID) -> dict[str, Any]:
        """Everything the candidate gave: for the audited reveal only."""
        row = session.get(Candidate, case_id)
        if row is None:
            return {}
        dek = self.key(session, case_id)
        contact = self._row_contact(dek, row)
        sealed = row.details
        extra = (
            unseal_json(dek, sealed, table=CANDIDATES, column="details", row_id=case_id)
            if sealed
            else {}
        )
        return {
            "given_name": contact.given_name,
            "family_name": contact.family_name,
            "email": contact.email,
            **extra,
        }

    # -- documents --------------------------------------------------------------------------

    def add_document(
        self, session: Session, case_id: uuid.UUID, kind: DocumentKind, content: dict[str, Any]
    ) -> CaseDocument:
        dek = self.key(session, case_id)
        document = CaseDocument(case_id=case_id, kind=kind)
        document.sealed = seal_json(
            dek, content, table=DOCUMENTS, column=f"sealed:{kind}", row_id=document.id
        )
        session.add(document)
        return document

    def documents(
        self, session: Session, case_id: uuid.UUID, kind: DocumentKind
    ) -> list[dict[str, Any]]:
        rows = session.exec(
            select(CaseDocument)
            .where(CaseDocument.case_id == case_id, CaseDocument.kind == kind)
            .order_by(col(CaseDocument.created_at))
        ).all()
        if not rows:
            return []
        dek = self.key(session, case_id)
        return [
            unseal_json(dek, row.sealed, table=DOCUMENTS, column=f"sealed:{kind}", row_id=row.id)
            for row in rows
            if row.sealed is not None
        ]

    # -- other sealed records of a case ------------------------------------------------------

    def seal_record(
        self, session: Session, case_id: uuid.UUID, table: str, row_key: str, value: Any
    ) -> bytes:
        """Seal a JSON value kept in another table for this case (bound to that row)."""
        return seal_json(
            self.key(session, case_id), value, table=table, column="sealed", row_id=row_key
        )

    def open_record(
        self, session: Session, case_id: uuid.UUID, table: str, row_key: str, sealed: bytes
    ) -> Any:
        return unseal_json(
            self.key(session, case_id), sealed, table=table, column="sealed", row_id=row_key
        )

    # -- search and identity -----------------------------------------------------------------

    def email_index(self, email: str) -> str:
        """Raises NormalizationError for what is not an address (never quoting it)."""
        return email_index(self._index_root, email)

    def ssn_index(self, ssn: str) -> str:
        return ssn_index(self._index_root, ssn)

    def name_dob_index(self, family_name: str, date_of_birth: date | str) -> str:
        return name_dob_index(self._index_root, family_name, date_of_birth)

    def actor_identity(self, actor: Staff) -> Identity:
        """A staff member's identity, to compare with candidates' (``policy.Identity``).

        Asked once per case of a page (the workflow view and the access check), always for
        the same few staff: remembered, as an HMAC costs more than the rest of the view.
        Candidates' emails never go through here, so none is kept in memory.
        """
        return _actor_identity(self._index_root, actor.email, actor.ssn_index, actor.name_dob_index)

    def candidate_identity(self, row: Candidate | None) -> Identity:
        if row is None:
            return NOBODY_KNOWN
        return Identity(
            email=row.email_index,
            mailbox=row.mailbox_index,
            ssn=row.ssn_index,
            name_dob=row.name_dob_index,
        )


@functools.lru_cache(maxsize=1024)
def _actor_identity(root_key: bytes, email: str, ssn: str | None, name_dob: str | None) -> Identity:
    """Keyed by the root key too, so a keyring reloaded with another gets fresh answers."""
    try:
        return Identity(
            email=email_index(root_key, email),
            mailbox=mailbox_index(root_key, email),
            ssn=ssn,
            name_dob=name_dob,
        )
    except NormalizationError:
        return Identity(ssn=ssn, name_dob=name_dob)


def _contacts_statements() -> tuple[sa.Select[Any], sa.Select[Any]]:
    """What ``Vault.contacts`` runs, for one case and for many: built once per process.

    Building the select, and its cache key from a page's 50 literal ids, cost as much as
    running it; the ids are bound at execution instead (an expanding IN). Core columns, not
    the models' attributes, so the rows come back as plain tuples without the ORM's result
    processing. Only the sealed columns and the wrapped key are read, not whole rows.
    """
    candidates, keys = table_of(Candidate), table_of(CaseKey)
    joined = candidates.outerjoin(keys, keys.c.case_id == candidates.c.case_id)
    statement = sa.select(candidates.c.case_id, candidates.c.contact, keys.c.wrapped)
    many = candidates.c.case_id.in_(sa.bindparam("case_ids", expanding=True))
    return (
        statement.select_from(joined).where(candidates.c.case_id == sa.bindparam("case_id")),
        statement.select_from(joined).where(many),
    )


_CONTACT_OF, _CONTACTS_OF = _contacts_statements()


def forget_keys(case_ids: Iterable[uuid.UUID]) -> None:
    """Drop these cases' data keys from the key cache of every vault of this process.

    Retention calls this as it destroys the cases' wrapped keys. The cache could not serve
    them anyway (a hit needs the wrapped bytes, now deleted); this only stops keeping them.
    """
    case_ids = list(case_ids)
    with _vaults_lock:
        vaults = list(_vaults)
    for vault in vaults:
        vault.key_cache.forget(case_ids)


def _has_kek(keyring: Keyring, kek_id: str) -> bool:
    return any(kek.id == kek_id for kek in keyring.keks)
