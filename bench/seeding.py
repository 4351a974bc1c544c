"""Throwaway databases holding 100,000 cases, for `make bench`.

``sqlite_database`` / ``postgres_database`` give a migrated, empty database (a temporary
folder, or a uniquely named database on the local PostgreSQL server, dropped afterwards)
and the environment a `bgcheck serve` process needs to use it. ``seed`` then fills it:

- departments and users through ``bgcheck.identity.users`` (real password hashes, so the
  benchmark signs in over HTTP like anyone else);
- all but the newest ``service_cases`` cases in bulk, a year of history: the PII sealed
  with the vault's own functions (a data key per case, wrapped by the keyring's active
  KEK; AES-GCM fields bound to table, column and case id; the blind indexes), written
  with multi-row INSERTs in one transaction, with one valid ``case.create`` audit event
  per case. The rows use the same columns and bindings as ``bgcheck.vault.store`` and a sample
  is read back through ``Vault`` before anything is measured;
- the newest ``service_cases`` through ``bgcheck.cases.service.create_case`` in one
  transaction, to time the real service beside the bulk path.

A tenth of the cases wait in ``pending_review`` unassigned: the pool the ``claim``
benchmark claims, each case once.
"""

from __future__ import annotations

import enum
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy import Engine

from bgcheck import audit
from bgcheck.audit.chain import event_hash
from bgcheck.audit.trail import lock_head
from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.crypto import (
    DataKey,
    Keyring,
    email_index,
    name_dob_index,
    seal_json,
    ssn_index,
    ssn_last4,
    wrap,
)
from bgcheck.identity import mfa
from bgcheck.identity import users as user_service
from bgcheck.identity.actors import load_actor
from bgcheck.models import AuditChainHead, AuditEvent, Candidate, Case, CaseKey, utcnow
from bgcheck.platform import migrate
from bgcheck.platform.db import is_postgresql, make_engine, session_scope
from bgcheck.platform.settings import Settings
from bgcheck.vault.store import CANDIDATES, Vault
from workflow import ConsentBody, Role, State

import authenticator

PASSWORD = "benchmark password 2026"
BENCH = audit.AuditActor.system("bench")
DEPARTMENTS = {"FAC": "Facilities", "ATH": "Athletics", "LIB": "Libraries", "MED": "Medical"}
USERS = {
    "hr": ("bench.hr@example.edu", Role.HR, ("FAC",)),
    "reviewer": ("bench.reviewer@example.edu", Role.REVIEWER, ()),
}
CASE_BODY = {
    "department": "FAC",
    "position_title": "Groundskeeper",
    "package": "standard",
    "candidate": {"given_name": "Pat", "family_name": "Candidate", "email": "pat@example.org"},
}
GIVEN_NAMES = ("Pat", "Sam", "Alex", "Jordan", "Robin", "Casey", "Morgan", "Avery")
CHUNK = 2_000  # rows per INSERT batch


@dataclass
class Database:
    """A migrated throwaway database, and the environment of a server that uses it."""

    label: str
    engine: Engine
    settings: Settings
    env: dict[str, str]


def server_env(data_dir: str, keyring: Keyring, jwt_secret: str, url: str | None) -> dict[str, str]:
    """The environment of `bgcheck serve`: no inherited BGCHECK_*, no embedded worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGCHECK_")}
    env |= {
        "BGCHECK_DATA_DIR": data_dir,
        "BGCHECK_KEYRING": keyring.to_json(),
        "BGCHECK_JWT_SECRET": jwt_secret,
        "BGCHECK_LOG_LEVEL": "WARNING",
        # The worker would sign audit checkpoints while the load runs.
        "BGCHECK_EMBEDDED_WORKER": "false",
        # One reviewer searches thousands of times a second here; people search far less.
        "BGCHECK_SEARCH_MAX_PER_WINDOW": "10000",
        "BGCHECK_SEARCH_WINDOW_MINUTES": "1",
    }
    if url:
        env["BGCHECK_DATABASE_URL"] = url
        env["BGCHECK_PUBLIC_URL"] = "https://bgcheck.example.edu"  # not embedded: https
    return env


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(env["BGCHECK_DATA_DIR"]),
        database_url=env.get("BGCHECK_DATABASE_URL"),
        keyring=env["BGCHECK_KEYRING"],
        jwt_secret=env["BGCHECK_JWT_SECRET"],
        public_url=env.get("BGCHECK_PUBLIC_URL", "http://127.0.0.1:8000"),
        embedded_worker=False,
        log_level="WARNING",
    )


@contextmanager
def sqlite_database(keyring: Keyring, jwt_secret: str) -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="bgcheck-bench-") as data_dir:
        env = server_env(data_dir, keyring, jwt_secret, None)
        settings = _settings(env)
        engine = make_engine(settings)
        migrate.upgrade(engine)
        try:
            yield Database("SQLite", engine, settings, env)
        finally:
            engine.dispose()


@contextmanager
def postgres_database(dsn: str, keyring: Keyring, jwt_secret: str) -> Iterator[Database]:
    """A uniquely named database on the server of ``dsn``, dropped afterwards."""
    name = f"bgcheck_bench_{uuid.uuid4().hex[:8]}"
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@"
        f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"
    )
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="bgcheck-bench-") as data_dir:
            env = server_env(data_dir, keyring, jwt_secret, url)
            settings = _settings(env)
            engine = make_engine(settings)
            try:
                migrate.upgrade(engine)
                yield Database("PostgreSQL", engine, settings, env)
            finally:
                engine.dispose()
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- seeding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """Cases sealed once, written to each database: the PII binds to the case id, not to
    the database, so both back-ends hold the same ciphertexts under the same keyring.
    User and department ids are placeholders (``"hr"``, ``"FAC"``) until written."""

    rows: list[dict[str, Any]]
    seconds: float


@dataclass
class Seeded:
    """What the benchmarks need to know about the seeded cases, and how long seeding took."""

    emails: dict[str, str]  # role -> sign-in email
    case_ids: list[uuid.UUID] = field(default_factory=list)  # a sample, for GET /cases/{id}
    pool: list[uuid.UUID] = field(default_factory=list)  # pending_review, unassigned
    search_terms: list[str] = field(default_factory=list)  # seeded emails and SSNs
    bulk_cases: int = 0
    bulk_seconds: float = 0.0  # writing; the sealing is ``Sealed.seconds``
    service_cases: int = 0
    service_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_cases(self) -> int:
        return self.bulk_cases + self.service_cases


def seal_cases(keyring: Keyring, count: int, disclosure_version: str) -> Sealed:
    started = time.perf_counter()
    rows = _bulk_rows(keyring, count, disclosure_version)
    return Sealed(rows, time.perf_counter() - started)


def seed(db: Database, keyring: Keyring, sealed: Sealed, *, service_cases: int) -> Seeded:
    """Departments, users, the sealed cases, then ``service_cases`` through the service."""
    began = time.perf_counter()
    with session_scope(db.engine) as session:
        refs = {
            code: user_service.ensure_department(session, BENCH, code=code, name=name).id
            for code, name in DEPARTMENTS.items()
        }
        refs |= {
            key: user_service.create_user(
                session,
                BENCH,
                email=email,
                display_name=f"Bench {key}",
                roles=(role,),
                department_codes=codes,
                password=PASSWORD,
            ).id
            for key, (email, role, codes) in USERS.items()
        }
        box = mfa.SecretBox.for_keyring(keyring)
        for key in USERS:
            authenticator.enroll(session, box, refs[key])
    seeded = Seeded(emails={key: email for key, (email, _, _) in USERS.items()})
    seeded.timings["users"] = time.perf_counter() - began

    started = time.perf_counter()
    _write(db.engine, sealed.rows, refs)
    seeded.bulk_cases, seeded.bulk_seconds = len(sealed.rows), time.perf_counter() - started

    vault = Vault(keyring)
    ctx = CaseContext.from_settings(db.settings, vault)
    started = time.perf_counter()
    with session_scope(db.engine) as session:
        hr = load_actor(session, refs["hr"])
        assert hr is not None
        service_ids = [
            case_service.create_case(session, ctx, hr, body=CASE_BODY, now=utcnow()).id
            for _ in range(service_cases)
        ]
    seeded.service_cases, seeded.service_seconds = service_cases, time.perf_counter() - started

    if is_postgresql(db.engine):
        started = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        seeded.timings["VACUUM ANALYZE"] = time.perf_counter() - started

    started = time.perf_counter()
    _check(db.engine, vault, sealed.rows)
    seeded.timings["read-back check"] = time.perf_counter() - started

    rows = sealed.rows
    pick = random.Random(7)
    everything = [row["case"]["id"] for row in rows] + service_ids
    seeded.case_ids = pick.sample(everything, min(10_000, len(everything)))
    seeded.pool = [
        row["case"]["id"] for row in rows if row["case"]["state"] == State.PENDING_REVIEW
    ]
    pick.shuffle(seeded.pool)
    consented = [row for row in rows if row["ssn"] is not None]
    for row in pick.sample(consented, min(2_000, len(consented))):
        seeded.search_terms.append(row["email"] if pick.random() < 0.5 else row["ssn"])
    return seeded


def _ssn(n: int) -> str:
    """A distinct, well-formed SSN per case number (area 101 onwards)."""
    serial, rest = n % 9999 + 1, n // 9999
    return f"{101 + rest // 99:03d}-{rest % 99 + 1:02d}-{serial:04d}"


def _consent_template(disclosure_version: str) -> dict[str, Any]:
    """What ``_store_consent`` seals besides DOB and SSN, from the schema's own example."""
    body = ConsentBody.model_validate(
        ConsentBody.example() | {"disclosure_version": disclosure_version}
    )
    return body.model_dump(
        mode="json", exclude={"given_name", "family_name", "date_of_birth", "ssn"}
    )


def _bulk_rows(keyring: Keyring, count: int, disclosure_version: str) -> list[dict[str, Any]]:
    """``count`` cases over the past year, oldest first; one in ten waits for a reviewer.

    Of every ten: 1 pending_review (unassigned), 6 cleared, 1 under_review, 1 cancelled,
    1 expired. The facts the workflow's guards read match each state.
    """
    root = keyring.blind_index_root_key
    template = _consent_template(disclosure_version)
    codes = list(DEPARTMENTS)
    end = utcnow() - timedelta(hours=1)
    step = timedelta(days=365) / max(count, 1)
    start = end - step * count
    rows = []
    for n in range(count):
        case_id = uuid.uuid4()
        created = start + step * n
        kind = n % 10
        state = {
            0: State.PENDING_REVIEW,
            7: State.UNDER_REVIEW,
            8: State.CANCELLED,
            9: State.EXPIRED,
        }.get(kind, State.CLEARED)
        case: dict[str, Any] = {
            "id": case_id,
            "department_id": codes[n % len(codes)],
            "position_title": "Groundskeeper",
            "package": "standard",
            "state": state,
            "version": 1,
            "created_by": "hr",
            "created_at": created,
            "updated_at": created,
            "ready_to_finalize": False,
            "open_dispute": False,
        }
        consented = state in (State.PENDING_REVIEW, State.UNDER_REVIEW, State.CLEARED)
        if state is State.CANCELLED:
            case |= {"version": 2, "decided_at": created + timedelta(days=1)}
        else:
            case["invitation_expires_at"] = created + timedelta(days=14)
        if state is State.EXPIRED:
            case |= {"version": 3, "decided_at": created + timedelta(days=14)}
        if consented:
            case |= {
                "consent_at": created + timedelta(days=2),
                "disclosure_version": disclosure_version,
                "identity_verified_at": created + timedelta(days=3),
                "identity_verified_by": "hr",
                "vendor_ordered_at": created + timedelta(days=3),
                "vendor_news_at": created + timedelta(days=5),
                "vendor_reference": f"bench-{n}",
                "vendor_status": "complete",
                "vendor_result": "consider" if n % 20 == 0 else "clear",
                "version": 7,
            }
        if state is State.UNDER_REVIEW:
            case |= {"assigned_to": "reviewer", "version": 8}
        if state is State.CLEARED:
            decided = created + timedelta(days=7)
            case |= {"assigned_to": "reviewer", "version": 9, "decided_at": decided}
        case["updated_at"] = case.get("decided_at") or case.get("vendor_news_at") or created

        dek = DataKey.generate()
        wrapped = wrap(keyring, dek, case_id=case_id)
        given, family = GIVEN_NAMES[n % len(GIVEN_NAMES)], f"Candidate{n:06d}"
        email = f"candidate.{n:06d}@example.org"

        contact = {"given_name": given, "family_name": family, "email": email, "ssn_last4": None}
        candidate: dict[str, Any] = {
            "case_id": case_id,
            "contact": None,  # sealed below, once the SSN's last digits are known
            "given_name": None,
            "family_name": None,
            "email": None,
            "email_index": email_index(root, email),
            "details": None,
            "ssn_last4": None,
            "ssn_index": None,
            "name_dob_index": None,
            "updated_at": case["updated_at"],
        }
        ssn = None
        if consented:
            ssn = _ssn(n)
            born = date(1960, 1, 1) + timedelta(days=n % 14_000)
            details = template | {
                "signature": f"{given} {family}",
                "date_of_birth": born.isoformat(),
                "ssn": ssn,
            }
            candidate |= {
                "details": seal_json(
                    dek, details, table=CANDIDATES, column="details", row_id=case_id
                ),
                "ssn_index": ssn_index(root, ssn),
                "name_dob_index": name_dob_index(root, family, born),
            }
        if ssn is not None:
            contact["ssn_last4"] = ssn_last4(ssn)
        candidate["contact"] = seal_json(
            dek, contact, table=CANDIDATES, column="contact", row_id=case_id
        )
        key = {
            "case_id": case_id,
            "kek_id": wrapped.kek_id,
            "wrapped": wrapped.to_bytes(),
            "created_at": created,
        }
        rows.append({"case": case, "candidate": candidate, "key": key, "email": email, "ssn": ssn})
    return rows


def _write(engine: Engine, rows: Sequence[dict[str, Any]], refs: dict[str, uuid.UUID]) -> None:
    """Cases, candidates, keys and one chained ``case.create`` event each, in one transaction.

    ``refs`` turns the placeholders of the sealed rows into this database's ids.
    """
    columns = [column.name for column in Case.__table__.columns]
    linked = ("department_id", "created_by", "identity_verified_by", "assigned_to")
    with session_scope(engine) as session:
        head = lock_head(session)
        seq, prev = head.seq, head.hash
        connection = session.connection()
        for first in range(0, len(rows), CHUNK):
            chunk = rows[first : first + CHUNK]
            cases = [{name: row["case"].get(name) for name in columns} for row in chunk]
            for case in cases:
                for name in linked:
                    if case[name] is not None:
                        case[name] = refs[case[name]]
            _insert(connection, Case.__table__, cases)
            _insert(connection, Candidate.__table__, [row["candidate"] for row in chunk])
            _insert(connection, CaseKey.__table__, [row["key"] for row in chunk])
            events = []
            for row in chunk:
                seq += 1
                event = {
                    "seq": seq,
                    "occurred_at": row["case"]["created_at"],
                    "actor_kind": "user",
                    "actor_id": str(refs[row["case"]["created_by"]]),
                    "action": "case.create",
                    "target_type": "case",
                    "target_id": str(row["case"]["id"]),
                    "request_id": None,
                    "data": {"from": None, "to": State.DRAFT.value},
                    "prev_hash": prev,
                }
                event["hash"] = prev = event_hash(prev, event)
                events.append(event)
            _insert(connection, AuditEvent.__table__, events)
        session.execute(
            sa.update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=seq, hash=prev)
        )
        session.expire_all()


def _insert(connection: sa.Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """A multi-row INSERT on SQLite; COPY on PostgreSQL, several times faster there."""
    if connection.dialect.name != "postgresql":
        connection.execute(sa.insert(table), rows)
        return
    names = [column.name for column in table.columns if column.name in rows[0]]
    raw = connection.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_copyable(row[name]) for name in names])


def _copyable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return Jsonb(value)
    return value


def _check(engine: Engine, vault: Vault, rows: Sequence[dict[str, Any]]) -> None:
    """Read a sample back through the vault's repository layer: the bulk rows must open."""
    sample = rows[:: max(1, len(rows) // 50)]
    with session_scope(engine, read_only=True) as session:
        contacts = vault.contacts(session, [row["case"]["id"] for row in sample])
        for row in sample:
            contact = contacts[row["case"]["id"]]
            last4 = row["ssn"][-4:] if row["ssn"] else None
            if contact.email != row["email"] or contact.ssn_last4 != last4:
                raise SystemExit("seeding: a bulk-written contact does not open through Vault")
            if row["ssn"] and vault.details(session, row["case"]["id"])["ssn"] != row["ssn"]:
                raise SystemExit("seeding: bulk-written details do not open through Vault")
        report = audit.verify(session)
        if report.first_bad_seq is not None:
            raise SystemExit(f"seeding: the audit chain breaks at {report.first_bad_seq}")
