"""Where a server process spends its time under load: py-spy samples, summarized as text.

``record`` attaches py-spy to a running process (``--gil``: only the thread holding the
GIL is sampled, so the profile is the Python CPU time that caps one process's throughput;
time spent waiting on the database without the GIL does not show). ``summarize`` turns
py-spy's raw (collapsed stacks) output into the top functions by own and inclusive
samples and the share of each library, which ``make bench`` writes to
``bench/results/profile-<endpoint>-<backend>.txt``. ``cpu_seconds`` reads a process's CPU
time from /proc, to tell a CPU-bound process from one that waits.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def available() -> bool:
    return Path(PY_SPY).exists()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def record(pid: int, seconds: float, output: Path, *, rate: int = 250) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` into ``output`` (raw collapsed stacks)."""
    command = [
        PY_SPY,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(rate),
        "--gil",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


_THREAD = re.compile(r"^Thread \S+ \((?P<state>[^)]*)\)")
_DUMPED_FRAME = re.compile(r"^\s+(?P<function>\S.*) \((?P<file>[^()]*)\)$")


def snapshots(pid: int, *, count: int, seconds: float) -> Counter[tuple[str, str, str]]:
    """Where the request threads are, from ``count`` ``py-spy dump``s over ``seconds``.

    A ``--gil`` profile cannot show time spent waiting (for the database, a lock, the GIL);
    these snapshots do: each thread serving a request (one with a frame of ``api/``) counts
    once per snapshot under (state, innermost frame of our code, the frame it is in).
    """
    seen: Counter[tuple[str, str, str]] = Counter()
    for _ in range(count):
        time.sleep(seconds / count)
        done = subprocess.run(
            [PY_SPY, "dump", "--pid", str(pid), "--nonblocking"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        for block in done.stdout.split("\nThread ")[1:]:
            lines = ("Thread " + block).splitlines()
            header = _THREAD.match(lines[0])
            frames = [m for m in map(_DUMPED_FRAME.match, lines[1:]) if m is not None]
            files = [frame["file"] for frame in frames]
            if header is None or not any(file.startswith("api/") for file in files):
                continue
            ours = next(
                (f"{f['function']} ({f['file']})" for f in frames if f["file"].startswith(OURS)),
                "?",
            )
            leaf = f"{frames[0]['function']} ({frames[0]['file']})"
            seen[header["state"], ours, leaf] += 1
    return seen


OURS = ("api/", "bgcheck/", "workflow/")


def _where(path: str) -> str:
    """A frame's library. py-spy shortens paths to the package part
    (``sqlalchemy/orm/session.py``, ``bgcheck/cases/service.py``, ``threading.py``)."""
    parts = path.split("/")
    if parts[0] == "bgcheck" and len(parts) > 2:
        return f"bgcheck.{parts[1]}"
    return parts[0].removesuffix(".py")


def summarize(
    raw: Path,
    *,
    title: str,
    notes: list[str],
    waits: Counter[tuple[str, str, str]] | None = None,
    top: int = 25,
) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own_by_lib: Counter[str] = Counter()
    incl_by_lib: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match is None:
                continue
            frames.append((match["function"], match["file"]))
        if not frames:
            continue
        names = [f"{function} ({path})" for function, path in frames]
        libraries = [_where(path) for _, path in frames]
        own[names[-1]] += count
        own_by_lib[libraries[-1]] += count
        for name in set(names):
            inclusive[name] += count
        for library in set(libraries):
            incl_by_lib[library] += count
    if not total:
        return f"{title}\n\nno samples (is ptrace allowed here?)\n"

    def block(heading: str, counter: Counter[str], limit: int) -> list[str]:
        lines = [heading]
        for name, count in counter.most_common(limit):
            lines.append(f"  {count / total:6.1%}  {name}")
        return lines

    lines = [title, "", *notes, f"samples (thread holding the GIL): {total}", ""]
    lines += block("own time by library (where the CPU is, leaf frames):", own_by_lib, 15)
    lines += [""]
    lines += block("inclusive time by library (a sample counts once per library):", incl_by_lib, 20)
    lines += [""]
    lines += block(f"top {top} functions by own time:", own, top)
    lines += [""]
    lines += block(f"top {top + 15} functions by inclusive time:", inclusive, top + 15)
    if waits:
        seen = sum(waits.values())
        states: Counter[str] = Counter()
        for (state, _, _), n in waits.items():
            states[state] += n
        lines += [
            "",
            f"request threads in py-spy dump snapshots: {seen} sightings; "
            + ", ".join(f"{state} {n / seen:.0%}" for state, n in states.most_common()),
            "  (idle = waiting without the GIL: database I/O, a lock, a sleep)",
        ]
        for (state, ours, leaf), n in waits.most_common(12):
            lines.append(f"  {n / seen:6.1%}  {state:<12} {ours}  <-  {leaf}")
    return "\n".join(lines) + "\n"
