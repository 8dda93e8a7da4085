"""`wrk` (Debian's package) driven from Python: POST requests each with its own token and body,
closed-loop or paced, optionally stopped after N answers; one row of figures per run."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

# Each request takes the next (token, body) pair, cycling. `limit` > 0 stops the run after that
# many answers (each pair then used once: the caller gives at least limit + connections pairs).
# `pace_ms` > 0 makes each connection wait a random 0.5-1.5x that long after each answer
# (wrk's latency does not count the wait), which offers a load below the server's capacity.
WRK_SCRIPT = r"""
items = {%(items)s}
limit = %(limit)d
pace_ms = %(pace_ms).3f
counter = 0
answered = 0
statuses = {}
init = function(args) math.randomseed(%(seed)d) end
request = function()
  counter = counter + 1
  local item = items[((counter - 1) %% #items) + 1]
  local headers = {}
  if item[1] ~= "" then headers["Authorization"] = "Bearer " .. item[1] end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", nil, headers, item[2])
end
if pace_ms > 0 then
  delay = function() return pace_ms * (0.5 + math.random()) end
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  if limit > 0 and answered >= limit then wrk.thread:stop() end
end
threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do table.insert(parts, status .. "=" .. count) end
  io.write(string.format("RESULT %%d %%d %%.3f %%.3f %%d %%d %%d %%d %%.3f %%s\n",
    summary.requests, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency.mean / 1000,
    table.concat(parts, ",")))
end
"""


@dataclass(frozen=True)
class WrkRow:
    target: str
    connections: int
    seconds: float
    requests: int
    p50_ms: float
    p99_ms: float
    statuses: str
    socket_errors: int
    cpu: float  # wrk's CPU over its wall time
    mean_ms: float = 0.0
    limit: int = 0  # the run stops after this many answers (0: at its duration)

    @property
    def rate(self) -> float:
        """Answers per second. A run stopped after its N answers still lasts its whole duration
        (wrk's clock), so its rate is the closed loop's connections / mean latency instead."""
        if self.limit and self.requests >= self.limit:
            return self.connections * 1000 / self.mean_ms if self.mean_ms else 0.0
        return self.requests / self.seconds if self.seconds else 0.0

    def unexpected(self, expected: int) -> int:
        """Answers with another status than `expected`, plus socket errors and timeouts."""
        wrong = 0
        for part in filter(None, self.statuses.split(",")):
            status, count = part.split("=")
            if int(status) != expected:
                wrong += int(count)
        return wrong + self.socket_errors


def _lua_string(text: str) -> str:
    """A Lua string literal: JSON's escapes of ASCII text are Lua's too."""
    return json.dumps(text, ensure_ascii=True)


def run_wrk_requests(
    target: str,
    url: str,
    items: Sequence[tuple[str, str]],
    connections: int,
    seconds: float,
    limit: int = 0,
    pace_ms: float = 0.0,
) -> WrkRow:
    """wrk with one thread and `connections` connections for at most `seconds`, POSTing each
    (token, JSON body) of `items` in turn (an empty token sends no Authorization header)."""
    if limit and len(items) < limit + connections:
        raise ValueError("a limited run needs at least limit + connections items")
    script = WRK_SCRIPT % {
        "items": ", ".join(f"{{{_lua_string(t)}, {_lua_string(b)}}}" for t, b in items),
        "limit": limit,
        "pace_ms": pace_ms,
        "seed": 16,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(round(seconds), 1)}s",
                "--timeout",
                "60s",
                "-s",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=True,
        )
    finally:
        os.unlink(file.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    fields = line.split(" ", 10)
    requests, micros = int(fields[1]), int(fields[2])
    wall = micros / 1e6
    return WrkRow(
        target,
        connections,
        wall,
        requests,
        float(fields[3]),
        float(fields[4]),
        fields[10].strip() if len(fields) > 10 else "",
        sum(int(f) for f in fields[5:9]),
        cpu / wall if wall else 0.0,
        float(fields[9]),
        limit,
    )
