"""The file-work child processes (tasks/file_work.py) this test process has running: the
children of its file-work servers (tasks/file_work_server.py)."""

from __future__ import annotations

import os
from pathlib import Path


def _children_of(parents: set[int], command_part: bytes | None = None) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent in parents and (command_part is None or command_part in command):
            found.append(int(entry.name))
    return found


def file_work_children() -> list[int]:
    """The processes this process's file-work servers forked and have not reaped, from /proc."""
    servers = set(_children_of({os.getpid()}, b"tasks.file_work_server"))
    return _children_of(servers) if servers else []
