"""`make bench`: the benchmark suite, every figure beside a baseline measured in the same run.

This machine has two cores and other people's tests run on it, so absolute numbers drift
from run to run; the ratios are what compare across commits. One run:

1. seals 99,000 cases once with the vault's functions (the PII binds to the case id, not
   the database), then for SQLite and for PostgreSQL (a throwaway database on the local
   server): writes them in bulk, adds 1,000 more through ``create_case`` (the two rates,
   side by side), then
2. HTTP, with wrk on loopback: the bare FastAPI "hello" app (``bench/hello.py``, served
   with the same uvicorn settings) as the ceiling, then one `bgcheck serve` process:
   ``GET /api/v1/cases/{id}``, ``GET /api/v1/cases`` (a page of 50), the blind-index
   search (``POST /api/v1/cases/search`` by email or SSN), ``POST /api/v1/cases`` and the
   ``claim`` event (each case of a pool claimed once). Targets: reads ≥ 50% of hello,
   writes ≥ 20%, list p99 < 50 ms;
3. key rotation of every case key (``bgcheck.vault.rotation.rewrap_all``) against a plain
   UPDATE of the same rows in the same batches;
4. the audit export (``bench/audit_export.py``) against PostgreSQL's COPY.

With ``--profile`` (``make bench`` passes it), each endpoint below target is run again
under py-spy and the summary goes to ``bench/results/profile-<endpoint>-<backend>.txt``.
The tables go to stdout and to ``bench/results/latest.md``.

Why ``wrk -t1 -c2``: one API process runs Python on one core at a time (the GIL). On this
machine its requests/s are the same at 1, 2 or 4 connections, within the noise, so more
connections only queue: latency grows with the queue (Little's law: p50 ≈ connections /
throughput) and the p99 target would measure wrk's setting, not the service. Two keep
the process busy (one request in Python while the other waits on the database or the
network); wrk's one thread and PostgreSQL use the second core. The hello app's best rate
is also at two connections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import sqlalchemy as sa

from bgcheck.crypto import Keyring
from bgcheck.models import CaseKey
from bgcheck.platform.db import session_scope
from bgcheck.platform.logs import configure_logging
from bgcheck.platform.settings import Settings
from bgcheck.vault import rotation as key_service

import audit_export
import loadgen
import profiling
import report
import seeding
import serving
from authenticator import CODES

RESULTS = Path(__file__).with_name("results")
DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
READ_TARGET, WRITE_TARGET, LIST_P99_MS = 0.50, 0.20, 50.0


@dataclass(frozen=True)
class Endpoint:
    slug: str
    label: str
    role: str
    paths: list[str]
    method: str = "GET"
    body: str | None = None
    once: bool = False  # each path at most once (the claim pool)
    write: bool = False


@dataclass
class Options:
    seconds: float
    warmup: float
    hello: float  # seconds of the hello ceiling before each endpoint
    connections: int
    profile: bool
    profile_seconds: float


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- HTTP -------------------------------------------------------------------------------------


def measure(
    base: str,
    pid: int,
    endpoint: Endpoint,
    paths: list[str],
    token: str | None,
    opts: Options,
    *,
    seconds: float | None = None,
) -> tuple[loadgen.Result, float]:
    """One wrk run, and the server's CPU use meanwhile (1.0 = one core busy)."""
    cpu, wall = profiling.cpu_seconds(pid), time.perf_counter()
    result = loadgen.run(
        base,
        paths,
        seconds=seconds or opts.seconds,
        connections=opts.connections,
        method=endpoint.method,
        headers=_headers(endpoint, token),
        body=endpoint.body,
        once=endpoint.once,
    )
    busy = (profiling.cpu_seconds(pid) - cpu) / (time.perf_counter() - wall)
    if endpoint.once and result.requests >= len(paths):
        raise SystemExit(f"{endpoint.label}: the pool of {len(paths)} ran out; seed more cases")
    return result, busy


def warm(base: str, endpoint: Endpoint, paths: list[str], token: str | None, opts: Options) -> None:
    """A short run first, results thrown away: connections, caches and code paths warm."""
    if opts.warmup <= 0:
        return
    loadgen.run(
        base,
        paths,
        seconds=opts.warmup,
        connections=opts.connections,
        method=endpoint.method,
        headers=_headers(endpoint, token),
        body=endpoint.body,
        once=endpoint.once,
    )


def _headers(endpoint: Endpoint, token: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if endpoint.method == "POST":
        headers["Content-Type"] = "application/json"
    return headers


def preflight(client: httpx.Client, endpoint: Endpoint, path: str, token: str) -> None:
    """One request by hand: a wrong token or route fails here, with its body, not in wrk."""
    body = endpoint.body.replace("BENCHSEQ", "preflight") if endpoint.body else None
    path, _, own_body = path.partition("\t")  # loadgen's "path<TAB>body"
    body = own_body or body
    response = client.request(
        endpoint.method,
        path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        content=body,
    )
    if response.status_code >= 400:
        raise SystemExit(f"{endpoint.label}: {response.status_code} {response.text[:500]}")
    if endpoint.slug == "list-cases" and len(response.json()["items"]) != 50:
        raise SystemExit("list: expected a page of 50 cases")
    if endpoint.slug == "search" and len(response.json()["items"]) != 1:
        raise SystemExit(f"search: expected exactly one case for {path}")


def search_key(term: str) -> dict[str, str]:
    """The body that searches by a seeded term: an email, or else an SSN."""
    return {"email": term} if "@" in term else {"ssn": term}


def endpoints(seeded: seeding.Seeded) -> list[Endpoint]:
    new_case = {
        **seeding.CASE_BODY,
        "candidate": {
            "given_name": "Pat",
            "family_name": "Newcase",
            "email": "new.BENCHSEQ@example.org",
        },
    }
    return [
        Endpoint(
            "get-case",
            "GET /api/v1/cases/{id}",
            "reviewer",
            [f"/api/v1/cases/{case_id}" for case_id in seeded.case_ids],
        ),
        Endpoint("list-cases", "GET /api/v1/cases (50)", "reviewer", ["/api/v1/cases?limit=50"]),
        Endpoint(
            "search",
            "POST /api/v1/cases/search (blind index)",
            "reviewer",
            [
                f"/api/v1/cases/search\t{json.dumps(search_key(term))}"
                for term in seeded.search_terms
            ],
            method="POST",
        ),
        Endpoint(
            "create-case",
            "POST /api/v1/cases",
            "hr",
            ["/api/v1/cases"],
            method="POST",
            body=json.dumps(new_case),
            write=True,
        ),
        Endpoint(
            "claim",
            "POST /api/v1/cases/{id}/events/claim",
            "reviewer",
            [f"/api/v1/cases/{case_id}/events/claim" for case_id in seeded.pool],
            method="POST",
            body="{}",
            once=True,
            write=True,
        ),
    ]


def login(client: httpx.Client, email: str) -> str:
    form = {"username": email, "password": seeding.PASSWORD, "otp": CODES.code(email)}
    response = client.post("/api/v1/auth/token", data=form)
    response.raise_for_status()
    return response.json()["access_token"]


HELLO = Endpoint("hello", "GET /hello (bare FastAPI)", "", ["/hello"])


def http_suite(
    db: seeding.Database, seeded: seeding.Seeded, opts: Options
) -> tuple[list[report.HttpRow], list[report.Row], list[str]]:
    """Each endpoint right after its own run of the hello ceiling: the load other people
    put on this machine changes over minutes, so the adjacent run is the fair baseline."""
    label = db.label
    http: list[report.HttpRow] = []
    other: list[report.Row] = []
    profiles: list[str] = []
    results: dict[str, tuple[loadgen.Result, loadgen.Result]] = {}
    hello_port, port = serving.free_port(), serving.free_port()
    hello, server = serving.start_hello(hello_port), serving.start_server(db.env, port)
    hello_base, base = f"http://127.0.0.1:{hello_port}", f"http://127.0.0.1:{port}"
    try:
        warm(hello_base, HELLO, HELLO.paths, None, opts)
        with httpx.Client(base_url=base, timeout=30) as client:
            tokens = {role: login(client, email) for role, email in seeded.emails.items()}
            for endpoint in endpoints(seeded):
                token = tokens[endpoint.role]
                paths, warm_paths = endpoint.paths, endpoint.paths
                if endpoint.once:  # the claim pool: a quarter to warm up, the rest measured
                    cut = len(paths) // 4
                    warm_paths, paths = paths[:cut], paths[cut:]
                preflight(client, endpoint, warm_paths[0], token)
                warm(base, endpoint, warm_paths[1:], token, opts)
                log(f"{label}: {endpoint.label}")
                ceiling, _ = measure(
                    hello_base, hello.pid, HELLO, HELLO.paths, None, opts, seconds=opts.hello
                )
                result, cpu = measure(base, server.pid, endpoint, paths, token, opts)
                results[endpoint.slug] = result, ceiling
                target = WRITE_TARGET if endpoint.write else READ_TARGET
                ok = result.rps >= target * ceiling.rps and result.errors == 0
                http.append(
                    report.HttpRow(
                        label,
                        endpoint.label,
                        result.rps,
                        result.p50_ms,
                        result.p99_ms,
                        result.errors,
                        ceiling.rps,
                        ceiling.p99_ms,
                        target=f"≥ {target:.0%} of hello",
                        verdict=report.verdict(ok),
                        cpu=cpu,
                    )
                )
                if opts.profile and not ok and profiling.available():
                    profiles.append(
                        profile(base, server.pid, endpoint, paths, token, label, result, opts)
                    )
    finally:
        serving.stop(server)
        serving.stop(hello)

    (listing, ceiling), (search, _) = results["list-cases"], results["search"]
    by_id, _ = results["get-case"]
    other.append(
        report.Row(
            label,
            "GET /api/v1/cases (page of 50) p99",
            f"{listing.p99_ms:.1f} ms",
            f"hello p99 {ceiling.p99_ms:.2f} ms",
            f"{listing.p99_ms / ceiling.p99_ms:.0f}x hello",
            f"< {LIST_P99_MS:.0f} ms",
            report.verdict(listing.p99_ms < LIST_P99_MS),
        )
    )
    other.append(
        report.Row(
            label,
            f"search by blind index among {seeded.total_cases:,} p99",
            f"{search.p99_ms:.2f} ms (p50 {search.p50_ms:.2f})",
            f"GET by id p99 {by_id.p99_ms:.2f} ms (p50 {by_id.p50_ms:.2f})",
            f"{search.p99_ms / by_id.p99_ms:.2f}x GET by id",
        )
    )
    return http, other, profiles


def profile(
    base: str,
    pid: int,
    endpoint: Endpoint,
    paths: list[str],
    token: str,
    backend: str,
    measured: loadgen.Result,
    opts: Options,
) -> str:
    """Run ``endpoint`` again under py-spy; write the summary; return its file name."""
    log(f"{backend}: profiling {endpoint.label}")
    name = f"profile-{endpoint.slug}-{backend.lower()}.txt"
    raw = RESULTS / f"{name}.tmp"
    if endpoint.once:  # what the measured run did not claim
        paths = paths[measured.requests + opts.connections :]
    sampler = profiling.record(pid, opts.profile_seconds, raw)
    time.sleep(0.5)  # py-spy attaches
    cpu, wall = profiling.cpu_seconds(pid), time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        snapshots = pool.submit(
            profiling.snapshots, pid, count=25, seconds=opts.profile_seconds - 1
        )
        result = loadgen.run(
            base,
            paths,
            seconds=opts.profile_seconds,
            connections=opts.connections,
            method=endpoint.method,
            headers=_headers(endpoint, token),
            body=endpoint.body,
            once=endpoint.once,
        )
        waits = snapshots.result()
    busy = (profiling.cpu_seconds(pid) - cpu) / (time.perf_counter() - wall)
    _, errors = sampler.communicate(timeout=60)
    if not raw.exists():
        (RESULTS / name).write_text(f"py-spy failed: {errors.decode(errors='replace')}\n")
        return name
    notes = [
        f"{endpoint.label} on {backend}, one `bgcheck serve` process, "
        f"wrk -t1 -c{opts.connections}, {opts.profile_seconds:.0f} s under py-spy --gil "
        "(250 Hz) and 25 py-spy dumps.",
        f"measured run (without py-spy): {measured.rps:,.0f} req/s, p50 {measured.p50_ms:.2f} "
        f"ms, p99 {measured.p99_ms:.2f} ms; under py-spy: {result.rps:,.0f} req/s.",
        f"API process CPU during the profiled run: {busy:.0%} of one core.",
    ]
    text = profiling.summarize(
        raw, title=f"profile: {endpoint.label} ({backend})", notes=notes, waits=waits
    )
    (RESULTS / name).write_text(text)
    raw.unlink()
    return name


# -- rotation ---------------------------------------------------------------------------------


def rotation(db: seeding.Database, keyring: Keyring) -> list[report.Row]:
    """Every case key re-wrapped under a new KEK, beside a plain UPDATE of the same rows."""
    engine, batch = db.engine, key_service.DEFAULT_BATCH_SIZE
    log(f"{db.label}: plain UPDATE of every case key (the rotation's baseline)")
    started, updated, after = time.perf_counter(), 0, None
    table = CaseKey.__table__
    while True:
        with session_scope(engine) as session:
            query = sa.select(table.c.case_id, table.c.kek_id, table.c.wrapped)
            if after is not None:
                query = query.where(table.c.case_id > after)
            rows = session.execute(
                query.order_by(table.c.case_id).limit(batch).with_for_update()
            ).all()
            if not rows:
                break
            session.execute(
                sa.update(table)
                .where(table.c.case_id == sa.bindparam("id"))
                .values(kek_id=sa.bindparam("kek"), wrapped=sa.bindparam("key")),
                [{"id": row.case_id, "kek": row.kek_id, "key": row.wrapped} for row in rows],
            )
            after, updated = rows[-1].case_id, updated + len(rows)
    plain = updated / (time.perf_counter() - started)

    log(f"{db.label}: key rotation (rewrap_all)")
    rotated = keyring.rotate()
    started = time.perf_counter()
    outcome = key_service.rewrap_all(engine, rotated, seeding.BENCH, batch_size=batch)
    elapsed = time.perf_counter() - started
    if outcome.failed or outcome.remaining or outcome.rewrapped != updated:
        raise SystemExit(f"rotation: {outcome}")
    rate = outcome.rewrapped / elapsed
    return [
        report.Row(
            db.label,
            f"key rotation of {outcome.rewrapped:,} case keys (batches of {batch})",
            f"{rate:,.0f} cases/s ({elapsed:.1f} s)",
            f"plain UPDATE {plain:,.0f} rows/s",
            f"{rate / plain:.2f}x plain UPDATE",
        )
    ]


# -- the run ----------------------------------------------------------------------------------


@contextmanager
def database(kind: str, keyring: Keyring, secret: str, dsn: str) -> Iterator[seeding.Database]:
    if kind == "sqlite":
        with seeding.sqlite_database(keyring, secret) as db:
            yield db
    else:
        with seeding.postgres_database(dsn, keyring, secret) as db:
            yield db


def seeding_rows(
    db: seeding.Database, sealed: seeding.Sealed, seeded: seeding.Seeded
) -> list[report.Row]:
    bulk = seeded.bulk_cases / (sealed.seconds + seeded.bulk_seconds)
    service = seeded.service_cases / seeded.service_seconds if seeded.service_seconds else 0.0
    return [
        report.Row(
            db.label,
            f"seeding {seeded.total_cases:,} cases with sealed PII",
            f"{bulk:,.0f} cases/s (bulk: sealing {sealed.seconds:.1f} s, "
            f"writing {seeded.bulk_seconds:.1f} s)",
            f"create_case {service:,.0f} cases/s ({seeded.service_cases:,} cases, "
            f"{seeded.service_seconds:.1f} s)",
            f"{bulk / service:.0f}x create_case" if service else "",
        )
    ]


def audit_rows(events: int, dsn: str) -> list[report.Row]:
    log(f"audit export: {events:,} events")
    seconds, measured = audit_export.measure(events, dsn)
    copy = measured[0]
    rows = [
        report.Row(
            "audit export",
            f"seeding {events:,} chained events (COPY)",
            f"{events / seconds:,.0f} events/s ({seconds:.1f} s)",
            "",
            "",
        )
    ]
    for label, count, rate, first, peak in measured[1:]:
        share = rate / copy[2]
        rows.append(
            report.Row(
                "audit export",
                f"{label} of {count:,} events: rate",
                f"{rate:,.0f} events/s",
                f"COPY {copy[2]:,.0f} events/s",
                f"{share:.0%} of COPY",
                "≥ 50% of COPY",
                report.verdict(share >= 0.5),
            )
        )
        rows.append(
            report.Row(
                "audit export",
                f"{label}: first byte, peak RSS",
                f"{first * 1000:.0f} ms, {peak:.0f} MB",
                f"COPY {copy[3] * 1000:.0f} ms, {copy[4]:.0f} MB",
                f"{peak / copy[4]:.2f}x COPY's RSS",
                "< 1 s, < 200 MB",
                report.verdict(first < 1 and peak < 200),
            )
        )
    return rows


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def environment(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    wrk = subprocess.run([loadgen.WRK, "-v"], capture_output=True, text=True, check=False)
    dirty = " (with uncommitted changes)" if _git("status", "--porcelain") else ""
    return [
        f"- commit: `{_git('rev-parse', '--short', 'HEAD')}`{dirty}",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {row[0] if row else '?'}, {(wrk.stdout or wrk.stderr).splitlines()[0]}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--service-cases", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="per endpoint")
    parser.add_argument("--hello-seconds", type=float, default=5.0, help="before each endpoint")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--audit-events", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="py-spy what is below target")
    parser.add_argument("--profile-seconds", type=float, default=6.0)
    parser.add_argument("--dsn", default=DSN, help="the PostgreSQL server (libpq string)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md")
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    opts = Options(
        args.seconds,
        args.warmup,
        args.hello_seconds,
        args.connections,
        args.profile,
        args.profile_seconds,
    )
    began, load_start = time.perf_counter(), os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    env = environment(args.dsn)

    keyring, secret = Keyring.generate(), secrets.token_urlsafe(48)
    bulk = max(0, args.cases - args.service_cases)
    log(f"sealing {bulk:,} cases")
    sealed = seeding.seal_cases(keyring, bulk, Settings().disclosure_version)
    http: list[report.HttpRow] = []
    other: list[report.Row] = []
    profiles: list[str] = []
    for kind in args.backends.split(","):
        with database(kind, keyring, secret, args.dsn) as db:
            log(f"{db.label}: seeding")
            seeded = seeding.seed(db, keyring, sealed, service_cases=args.service_cases)
            log(
                f"{db.label}: seeded; "
                + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.timings.items())
            )
            other += seeding_rows(db, sealed, seeded)
            more_http, more_other, more_profiles = http_suite(db, seeded, opts)
            http += more_http
            other += more_other
            profiles += more_profiles
            other += rotation(db, keyring)
    del sealed  # about 400 MB at 100,000 cases
    if args.audit_events:
        other += audit_rows(args.audit_events, args.dsn)

    elapsed, load_end = time.perf_counter() - began, os.getloadavg()
    lines = [
        "# Benchmark results (`make bench`)",
        "",
        *env,
        f"- load average (1, 5, 15 min) at start: {_load(load_start)}; at end: {_load(load_end)}",
        f"- run time: {elapsed / 60:.1f} min",
        f"- HTTP: one API process on loopback; wrk -t1 -c{opts.connections}, "
        f"{opts.warmup:.0f} s warm-up then {opts.seconds:.0f} s per endpoint; "
        '"API CPU" is the server process\'s CPU time over the run (100% = one core)',
        "",
        "## HTTP",
        "",
        *report.http_table(http),
        "",
        "## Seeding, search, key rotation, audit export",
        "",
        *report.other_table(other),
        "",
    ]
    if profiles:
        lines += ["## Profiles", "", *(f"- [`{name}`]({name})" for name in profiles), ""]
    text = "\n".join(lines)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    log(f"done in {elapsed / 60:.1f} min; written to {args.output}")


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    main()
