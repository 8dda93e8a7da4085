"""A warm parent of file-work children: `python -m tasks.file_work_server MODULE`.

Starting a new interpreter for each piece of file work costs half a second of CPU, mostly
importing polars and pyarrow. This server imports `MODULE` (which defines `main(request_json)`,
as tasks/file_work.py does) once, then forks one child per request, so a child starts in
milliseconds with everything imported. The server does no work of its own before forking:
polars' thread pool is created in each child on first use (the forkserver of
deployments/warm_start.py forks flow runs the same way).

One request at a time, as lines on stdin and stdout (JSON):

- in: `{"request": REQUEST_JSON, "environment": {...}}`; the child takes the parent's
  environment as it is now (settings are read from it), not as it was when the server started;
- out: `{"pid": PID}` once forked, then `{"exit": CODE, "peak_rss_kb": KB}` once the child has
  ended and been reaped (CODE < 0: killed by that signal).

The parent kills a child past its deadline by its pid (tasks/file_work_process.py). When stdin
closes (the parent ended, however it ended) the server kills its child and exits, so no child
outlives the flow run that asked for it.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import select
import signal
import sys
from types import ModuleType
from typing import Any


def _run_child(module: ModuleType, message: dict[str, Any]) -> None:
    """In the forked child: the request's environment, then the module's work; never returns."""
    code = 1
    try:
        # The protocol owns stdout and stdin: what the work prints goes to stderr, like logs.
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, sys.stdin.fileno())
        os.close(null)
        os.environ.clear()
        os.environ.update(message["environment"])
        module.main(message["request"])
        code = 0
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait_for_child(pid: int, stdin: io.BufferedReader) -> tuple[int, int] | None:
    """The child's exit code and peak RSS (KiB) once it ends; None if stdin closed first (then
    the child is killed and reaped)."""
    child = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([child, stdin.fileno()], [], [])
            if child in ready:
                _, status, usage = os.wait4(pid, 0)
                return os.waitstatus_to_exitcode(status), usage.ru_maxrss
            if not stdin.peek(1):  # EOF: nobody waits for this child any more
                os.kill(pid, signal.SIGKILL)
                os.wait4(pid, 0)
                return None
    finally:
        os.close(child)


def serve(module_name: str) -> None:
    module = importlib.import_module(module_name)
    stdin = sys.stdin.buffer
    assert isinstance(stdin, io.BufferedReader)
    for line in stdin:
        message = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_child(module, message)
        print(json.dumps({"pid": pid}), flush=True)
        ended = _wait_for_child(pid, stdin)
        if ended is None:
            return
        code, peak_rss_kb = ended
        print(json.dumps({"exit": code, "peak_rss_kb": peak_rss_kb}), flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the parent, which decides
    serve(sys.argv[1])
