"""wrk, Debian's HTTP load generator, on loopback: a Lua script per endpoint, results as data.

Each run is one wrk process (``-t1``: one thread drives every connection) bounded in time.
The script signs each request with a bearer token and takes its path from a list, in
order, so a run can claim each case of a pool once (``once=True``: the thread stops when
the list is used up; wrk still divides by the whole duration, so a run that used up its
list has no valid rate and the caller must refuse it) or cycle through many case ids
(the default). Its ``done`` hook prints one line of numbers, parsed into ``Result``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

WRK = shutil.which("wrk") or "/usr/bin/wrk"
MARK = "WRK-RESULT"

_LUA = """
local method = {method}
local headers = {headers}
local body = {body}
local once = {once}
local stride = {threads}
local paths = {{}}
local bodies = {{}}  -- a line "path<TAB>body" gives that request its own body
for line in io.lines({paths_file}) do
  local path, own = line:match("^([^\t]*)\t(.*)$")
  paths[#paths + 1] = path or line
  bodies[#paths] = own
end
offset = 0  -- set per thread by setup()
local sent = 0
local created = 0

local threads = 0
function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

function request()
  local i = offset + sent * stride + 1
  sent = sent + 1
  if i > #paths then
    if once then
      wrk.thread:stop()
      return wrk.format("GET", "/healthz")
    end
    i = (i - 1) % #paths + 1
  end
  local payload = bodies[i] or body
  if payload ~= nil then
    created = created + 1
    payload = payload:gsub("BENCHSEQ", offset .. "-" .. created)
  end
  return wrk.format(method, paths[i], headers, payload)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("{mark} %d %d %.0f %.0f %.0f %d %d %d %d %d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class Result:
    """One wrk run. ``errors``: responses of 400 or more, socket errors and timeouts."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal


def _lua_table(mapping: Mapping[str, str]) -> str:
    pairs = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in mapping.items())
    return "{" + pairs + "}"


def run(
    base_url: str,
    paths: Sequence[str],
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: str | None = None,
    once: bool = False,
    threads: int = 1,
    timeout_s: float = 10.0,
) -> Result:
    """Run wrk against ``base_url`` for ``seconds``, taking request paths from ``paths``.

    ``body``: sent with every request; ``BENCHSEQ`` in it becomes a per-request number. A
    path written ``path<TAB>body`` is sent with that body instead.
    ``once``: every path is requested once at most, then the thread stops.
    """
    with tempfile.TemporaryDirectory(prefix="bgcheck-wrk-") as folder:
        paths_file = Path(folder) / "paths.txt"
        paths_file.write_text("".join(f"{path}\n" for path in paths))
        script = Path(folder) / "script.lua"
        script.write_text(
            _LUA.format(
                method=_lua_string(method),
                headers=_lua_table(headers or {}),
                body=_lua_string(body) if body is not None else "nil",
                once="true" if once else "false",
                threads=threads,
                paths_file=_lua_string(str(paths_file)),
                mark=MARK,
            )
        )
        command = [
            WRK,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            f"--timeout={timeout_s:.0f}s",
            "-s",
            str(script),
            base_url,
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr.strip()}")
    for line in finished.stdout.splitlines():
        if line.startswith(MARK):
            fields = [float(value) for value in line.split()[1:]]
            requests, duration_us, p50, p99, worst = fields[:5]
            return Result(
                requests=int(requests),
                seconds=duration_us / 1e6,
                p50_ms=p50 / 1000,
                p99_ms=p99 / 1000,
                max_ms=worst / 1000,
                errors=int(sum(fields[5:])),
            )
    raise RuntimeError(f"wrk printed no result:\n{finished.stdout}\n{finished.stderr}")
