"""The vault's share of a reviewer's list request, counted in CPU instructions by callgrind.

`make bench-vault` times the share, and on this shared machine a timed share moves with
the other tenants' load. An instruction count does not: valgrind's callgrind counts the
instructions a process runs, whatever else the machine is doing (repeated runs agree to
about 0.1%). This counts, on the same seeded data as bench/vault.py:

1. the vault's work on a 50-case page, in process (``Vault.contacts``, the decryption the
   list route pays for): warm (keys in the key cache) and cold (a vault without the
   cache, as a server with ``BGCHECK_VAULT_KEY_CACHE_SECONDS=0``), against reading the
   same values in plaintext. Only the reads themselves are counted, between two callgrind
   client requests made through a small C helper compiled here;
2. a real ``bgcheck serve`` run under callgrind, as a reviewer and an auditor, for the page
   of closed and the page of open cases: the server's instructions per request, counted
   between two dumps asked for with ``callgrind_control``; one server with the key cache,
   one without;
3. the vault's share: 1. over the reviewer's request of 2. that pays for it.

Instructions are not time: a request also waits (the network, the thread pool) without
running instructions, so its time share is smaller than its instruction share. Both are
reported in docs/vault.md, "Cost".

Needs valgrind, gcc and valgrind's headers (Debian's valgrind package has them). About
three minutes. Run: `make bench-vault-instructions`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import vault as timed

from bgcheck.cases.service import CaseContext
from bgcheck.crypto import KeyCache
from bgcheck.crypto.loading import load_keyring
from bgcheck.platform.db import make_engine
from bgcheck.platform.settings import Settings
from bgcheck.vault.store import Vault

import serving

READS = 20  # page reads counted per way
REQUESTS = 20  # requests counted per kind
TARGET_PERCENT = timed.TARGET_PERCENT

HELPER_C = """
#include <valgrind/callgrind.h>
void count_from_here(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void count_to_here(void) { CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION; }
"""


def callgrind(out: Path) -> list[str]:
    # Instrumented only between the marks; the same hash seed, so runs repeat exactly.
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def total(dump: Path) -> int:
    """The instructions a callgrind dump counted."""
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"{dump}: no totals line")


# -- 1. the page, in process (a child process under callgrind) -------------------------------


def child(way: str, data_dir: Path, ids_file: Path, helper: Path) -> None:
    """Read the page ``READS`` times the given way, counting only the reads."""
    marks = ctypes.CDLL(str(helper))
    settings = Settings(data_dir=data_dir, log_level="WARNING")
    engine = make_engine(settings)
    cache = KeyCache(ttl_seconds=0 if way == "cold" else 60)
    vault = Vault(load_keyring(settings), key_cache=cache)
    case_ids = [uuid.UUID(text) for text in json.loads(ids_file.read_text())]
    pages = timed.Pages(engine, vault, case_ids)
    read = pages.plain_page if way == "plain" else pages.vault_page_warm
    for _ in range(3):
        read()
    marks.count_from_here()
    for _ in range(READS):
        read()
    marks.count_to_here()


def page_instructions(
    env: dict[str, str], data_dir: Path, case_ids: list[uuid.UUID], work: Path
) -> dict[str, float]:
    """Instructions per page read: plaintext, the vault warm, the vault cold."""
    helper = work / "marks.so"
    source = work / "marks.c"
    source.write_text(HELPER_C)
    built = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-o", str(helper), str(source)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise SystemExit(f"could not build the callgrind marks (gcc, valgrind.h?):\n{built.stderr}")
    ids_file = work / "ids.json"
    ids_file.write_text(json.dumps([str(case_id) for case_id in case_ids]))
    counted = {}
    for way in ("plain", "warm", "cold"):
        out = work / f"page-{way}.out"
        command = [*callgrind(out), sys.executable, __file__, "--child", way]
        command += ["--data-dir", str(data_dir), "--ids", str(ids_file), "--helper", str(helper)]
        subprocess.run(command, check=True, capture_output=True, env=_env(env))
        counted[way] = total(Path(f"{out}.1")) / READS
    return counted


# -- 2. the server's requests ----------------------------------------------------------------


def request_instructions(
    env: dict[str, str], emails: dict[str, str], work: Path
) -> dict[tuple[str, str, str], float]:
    """Instructions per request by (server, role, page state)."""
    counted = {}
    for server, ttl in (("warm", "60"), ("cold", "0")):
        out = work / f"server-{server}.out"
        port = serving.free_port()
        process = serving.start_server(
            _env({**env, "BGCHECK_VAULT_KEY_CACHE_SECONDS": ttl}),
            port,
            wrapper=callgrind(out),
            seconds=300,  # a Python under valgrind starts slowly
        )
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300)
            requests = timed.Requests({"warm": client}, emails)
            roles = ("auditor", "reviewer") if server == "warm" else ("reviewer",)
            for state in timed.PAGE_STATES:
                for role in roles:
                    for _ in range(3):
                        requests.one("warm", role, state)
                    _control(process, "-i", "on")
                    _control(process, "-d")  # dumps, and counts from zero again
                    for _ in range(REQUESTS):
                        requests.one("warm", role, state)
                    _control(process, "-d")
                    _control(process, "-i", "off")
                    dumps = sorted(work.glob(f"{out.name}.*"), key=lambda p: int(p.suffix[1:]))
                    counted[server, role, state] = total(dumps[-1]) / REQUESTS
            client.close()
        finally:
            serving.stop(process)
    return counted


def _control(process: subprocess.Popen[bytes], *arguments: str) -> None:
    subprocess.run(
        ["callgrind_control", *arguments, str(process.pid)], check=True, capture_output=True
    )


def _env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PYTHONHASHSEED": "0"}


# -- report ----------------------------------------------------------------------------------


def report(pages: dict[str, float], requests: dict[tuple[str, str, str], float]) -> None:
    n = timed.PAGE
    print(f"vault instructions (callgrind; {sys.platform}, Python {sys.version.split()[0]})")
    print(f"1. the contacts of a {n}-case page, in process (per read, {READS} reads each)")
    print(f"   plaintext side table   {pages['plain'] / 1e6:7.2f} M   (baseline)")
    vault = {}
    for way in ("warm", "cold"):
        vault[way] = pages[way] - pages["plain"]
        print(
            f"   vault, {way}             {pages[way] / 1e6:7.2f} M   "
            f"+{vault[way] / n / 1000:.1f} k per case"
        )
    print(f"2. GET /api/v1/cases?limit={n}, server side (per request, {REQUESTS} each)")
    shares = {}
    for state, note in timed.PAGE_STATES.items():
        auditor = requests["warm", "auditor", state]
        print(f"   {state} page ({note})")
        print(f"     auditor (no contacts)      {auditor / 1e6:7.2f} M   (baseline)")
        for label, server in (
            ("reviewer, keys cached", "warm"),
            ("reviewer, no key cache", "cold"),
        ):
            reviewer = requests[server, "reviewer", state]
            print(
                f"     {label:<26} {reviewer / 1e6:7.2f} M   {(reviewer / auditor - 1) * 100:+.1f}%"
            )
            shares[state, server] = vault[server] / reviewer * 100
    print(
        f"3. the vault's share of a reviewer's list request, in instructions (< {TARGET_PERCENT}%)"
    )
    for (state, server), share in shares.items():
        temperature = "cold (every key unwrapped)" if server == "cold" else "warm (keys cached)"
        verdict = "meets" if share < TARGET_PERCENT else "misses"
        print(f"   {state:<9} page, {temperature:<27} {share:5.1f}%   {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("plain", "warm", "cold"), help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ids", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--helper", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data_dir, args.ids, args.helper)
        return
    for tool in ("valgrind", "callgrind_control", "gcc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (Debian: apt-get install valgrind gcc)")
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as scratch:
        data_dir, work = Path(data), Path(scratch)
        env, settings, engine, vault = timed.prepared(data_dir)
        closed, emails = timed.seed(engine, CaseContext.from_settings(settings, vault))
        timed.Pages(engine, vault, closed)  # the plaintext side table, once
        engine.dispose()
        pages = page_instructions(env, data_dir, closed, work)
        requests = request_instructions(env, emails, work)
        report(pages, requests)


if __name__ == "__main__":
    main()
