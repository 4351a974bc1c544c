"""Benchmark: stream the audit trail as CSV and JSONL, beside PostgreSQL's own COPY.

    make bench-audit        (or: .venv/bin/python bench/audit_export.py --events 1000000)

Creates a scratch database on the local PostgreSQL server, seeds a valid chain (with a
checkpoint every 1000 events), then runs each export in a fresh process, writing to
/dev/null, and prints events per second, the time to the first byte and the process's
peak resident memory. ``COPY (SELECT …) TO STDOUT`` of the same rows is the ceiling.
The issue's targets: at least half of COPY's rate, under 200 MB, first byte under 1 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bgcheck.audit import export as exports
from bgcheck.audit import signatures
from bgcheck.audit.chain import GENESIS_HASH, HASHED_FIELDS, canonical_json, event_hash
from bgcheck.audit.trail import AuditActor
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.logs import configure_logging
from bgcheck.platform.settings import Settings

START = datetime(2026, 1, 1, tzinfo=UTC)
COPY_SQL = "COPY (SELECT * FROM audit_events ORDER BY seq) TO STDOUT WITH (FORMAT csv, HEADER)"


def seed(dsn: str, count: int, key: Ed25519PrivateKey) -> None:
    """A valid chain through COPY: hashing in Python, loading at the server's speed."""
    prev, key_id = GENESIS_HASH, signatures.key_id(key.public_key())
    events = (
        "COPY audit_events (seq, occurred_at, actor_kind, actor_id, action, target_type, "
        "target_id, request_id, data, canonical_data, prev_hash, hash) FROM STDIN"
    )
    checkpoints = []
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        with cursor.copy(events) as copy:
            for seq in range(1, count + 1):
                event: dict[str, Any] = {
                    "seq": seq,
                    "occurred_at": START + timedelta(milliseconds=seq),
                    "actor_kind": "user",
                    "actor_id": str(uuid.UUID(int=seq % 40)),
                    "action": "case.viewed" if seq % 7 else "pii.revealed",
                    "target_type": "case",
                    "target_id": str(uuid.UUID(int=seq % 5000)),
                    "request_id": f"req-{seq:012d}",
                    "data": {"fields": ["name", "email"], "reason": "review"},
                    "prev_hash": prev,
                }
                event["hash"] = prev = event_hash(prev, event)
                columns = [event[field] for field in HASHED_FIELDS if field != "data"]
                text = canonical_json(event["data"])  # as audit.record stores it
                copy.write_row([*columns, text, text, event["prev_hash"], prev])
                if seq % 1000 == 0 or seq == count:
                    signed_at = event["occurred_at"] + timedelta(seconds=1)
                    signature = signatures.sign(key, seq, prev, signed_at)
                    checkpoints.append((uuid.uuid4(), seq, prev, signed_at, key_id, signature))
        cursor.executemany(
            "INSERT INTO audit_checkpoints (id, seq, hash, signed_at, key_id, signature) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            checkpoints,
        )
        cursor.execute("UPDATE audit_chain_head SET seq = %s, hash = %s", (count, prev))
        cursor.execute("ANALYZE audit_events")


def run_export(url: str, fmt: str, results: Any) -> None:
    configure_logging("WARNING", "console")
    engine = make_engine(Settings(), url=url)
    start = time.perf_counter()
    first = None
    stats = exports.ExportStats()
    with open("/dev/null", "w") as sink, session_scope(engine) as session:
        chunks = exports.export(
            session,
            AuditActor.system("benchmark"),
            fmt=fmt,  # type: ignore[arg-type]
            filters=exports.ExportFilters(),
            stats=stats,
        )
        for chunk in chunks:
            if first is None:
                first = time.perf_counter() - start
            sink.write(chunk)
    results.put(_measure(fmt, stats.events, start, first))


def run_copy(dsn: str, results: Any) -> None:
    start = time.perf_counter()
    first, rows = None, 0
    with psycopg.connect(dsn) as connection, connection.cursor().copy(COPY_SQL) as copy:
        for block in copy:
            if first is None:
                first = time.perf_counter() - start
            rows += bytes(block).count(b"\n")
    results.put(_measure("COPY csv", rows - 1, start, first))


def _measure(label: str, events: int, start: float, first: float | None) -> tuple:
    elapsed = time.perf_counter() - start
    peak_mb = _peak_rss_kb() / 1024
    return label, events, events / elapsed, first or 0.0, peak_mb


def _peak_rss_kb() -> float:
    """This process's own peak resident memory. ``ru_maxrss`` would not do: Linux keeps it
    across fork and exec, so a child spawned by a big parent reports the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def in_process(target: Any, *args: Any) -> tuple:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=target, args=(*args, results))
    process.start()
    outcome = results.get()
    process.join()
    return outcome


def measure(events: int, dsn: str) -> tuple[float, list[tuple]]:
    """Seed ``events`` in a scratch database, then COPY and both exports, each in its own
    process: (seconds seeding, rows of ``(label, events, events/s, first byte s, peak MB)``),
    COPY first. ``make bench`` calls this too."""
    name = f"bgcheck_bench_{uuid.uuid4().hex[:8]}"
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    scratch = psycopg.conninfo.make_conninfo(dsn, dbname=name)
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@"
        f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"
    )
    try:
        engine = make_engine(Settings(log_level="WARNING"), url=url)
        migrate.upgrade(engine)
        engine.dispose()
        began = time.perf_counter()
        seed(scratch, events, Ed25519PrivateKey.generate())
        seeding = time.perf_counter() - began
        rows = [in_process(run_copy, scratch)]
        rows += [in_process(run_export, url, fmt) for fmt in ("csv", "jsonl")]
        return seeding, rows
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dsn", default="host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    arguments = parser.parse_args()
    seconds, rows = measure(arguments.events, arguments.dsn)
    print(f"seeded {arguments.events:,} events in {seconds:.1f} s")
    ceiling = rows[0][2]
    print(
        f"{'export':<10} {'events':>10} {'events/s':>10} {'of COPY':>8} "
        f"{'1st byte':>9} {'peak RSS':>9}"
    )
    for label, events, rate, first, peak in rows:
        print(
            f"{label:<10} {events:>10,} {rate:>10,.0f} {rate / ceiling:>8.0%} "
            f"{first:>8.3f}s {peak:>7.0f}MB"
        )


if __name__ == "__main__":
    main()
