"""What a login costs, and whether other requests stay fast while logins run.

Starts one `bgcheck serve` process on loopback (embedded SQLite, a throwaway data dir),
then measures, in the same run:

1. the baseline: latency of `GET /api/v1/me` with nothing else going on;
2. logins per second with 4 concurrent clients, and meanwhile `GET /api/v1/me` latency;
3. the in-process cost of one argon2id hash and one verify.

Figures under load are printed as ratios against the baseline, because this machine is
shared and noisy. Run: `make bench-login` (or `.venv/bin/python bench/login.py`).

A login is the password and the one-time code (every account has a second factor). A
code is good once per account and 30-second step, so the logins are spread over a pool of
``ACCOUNTS`` accounts with the same password and TOTP secret (bench/authenticator.py).
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bgcheck.crypto.loading import load_keyring
from bgcheck.identity import mfa
from bgcheck.identity import users as user_service
from bgcheck.identity.passwords import hash_password_unchecked, verify_password
from bgcheck.models import User
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

import authenticator
import serving
from authenticator import CODES

PASSWORD = "benchmark password 2026"
ACCOUNTS = 200  # two codes each in the first 30 s, one more every 30 s after
SECONDS = 10.0
LOGIN_CLIENTS = 4


def email(n: int) -> str:
    return f"load.tester.{n}@example.edu"


def seed_accounts(data_dir: str) -> None:
    """The pool of accounts, each with the password (hashed once) and the bench secret,
    written before the server starts (it loads the same keyring from the data folder)."""
    settings = Settings(data_dir=Path(data_dir))
    engine = make_engine(settings)
    migrate.upgrade(engine)
    box = mfa.SecretBox.for_keyring(load_keyring(settings))
    digest = hash_password_unchecked(PASSWORD)
    with session_scope(engine) as session:
        for n in range(ACCOUNTS):
            user = user_service.create_user(
                session,
                authenticator.BENCH,
                email=email(n),
                display_name=f"Load tester {n}",
                roles=(Role.REVIEWER,),
                department_codes=(),
                password=None,
            )
            row = session.get(User, user.id)
            assert row is not None
            row.password_hash = digest
            session.add(row)
            authenticator.enroll(session, box, user.id)
    engine.dispose()


def start_server(data_dir: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BGCHECK_DATA_DIR": data_dir, "BGCHECK_LOG_LEVEL": "WARNING"}
    env["BGCHECK_LOGIN_MAX_FAILURES_PER_ADDRESS"] = "10000"
    seed_accounts(data_dir)
    return serving.start_server(env, port)


_turns = itertools.cycle(range(ACCOUNTS))
_turns_lock = threading.Lock()


def login(client: httpx.Client) -> str:
    """One login: the next account of the pool that still has a fresh code."""
    for tried in itertools.count(1):
        with _turns_lock:
            account = email(next(_turns))
        code = CODES.try_code(account)
        if code is not None:
            break
        if tried % ACCOUNTS == 0:  # every account used its steps: wait for the next one
            time.sleep(1)
    form = {"username": account, "password": PASSWORD, "otp": code}
    response = client.post("/api/v1/auth/token", data=form)
    response.raise_for_status()
    return response.json()["access_token"]


def me_latencies(client: httpx.Client, token: str, stop: threading.Event) -> list[float]:
    samples = []
    while not stop.is_set():
        started = time.perf_counter()
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        samples.append(time.perf_counter() - started)
        time.sleep(0.01)
    return samples


def p(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] * 1000


def main() -> None:
    started = time.perf_counter()
    for _ in range(3):
        digest = hash_password_unchecked(PASSWORD)
    hash_ms = (time.perf_counter() - started) / 3 * 1000
    started = time.perf_counter()
    for _ in range(3):
        verify_password(PASSWORD, digest)
    verify_ms = (time.perf_counter() - started) / 3 * 1000

    with tempfile.TemporaryDirectory() as data_dir:
        port = serving.free_port()
        server = start_server(data_dir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                token = login(client)
                stop = threading.Event()
                timer = threading.Timer(SECONDS / 2, stop.set)
                timer.start()
                baseline = me_latencies(client, token, stop)

                logins = 0
                lock = threading.Lock()
                stop = threading.Event()

                def hammer() -> None:
                    nonlocal logins
                    with httpx.Client(base_url=base, timeout=30) as own:
                        while not stop.is_set():
                            login(own)
                            with lock:
                                logins += 1

                workers = [threading.Thread(target=hammer) for _ in range(LOGIN_CLIENTS)]
                began = time.perf_counter()
                for worker in workers:
                    worker.start()
                threading.Timer(SECONDS, stop.set).start()
                loaded = me_latencies(client, token, stop)
                for worker in workers:
                    worker.join()
                elapsed = time.perf_counter() - began
        finally:
            server.terminate()
            server.wait(timeout=30)

    rate = logins / elapsed
    print("login benchmark (one API process, SQLite, loopback)")
    print(f"  argon2id hash           {hash_ms:8.1f} ms")
    print(f"  argon2id verify         {verify_ms:8.1f} ms")
    print(f"  logins/s ({LOGIN_CLIENTS} clients)    {rate:8.1f}   (~{1000 / rate:.0f} ms each)")
    for q in (50, 99):
        idle, busy = p(baseline, q), p(loaded, q)
        print(f"  GET /me p{q} idle        {idle:8.1f} ms")
        print(f"  GET /me p{q} under load  {busy:8.1f} ms   ratio {busy / idle:.2f}x")


if __name__ == "__main__":
    main()
