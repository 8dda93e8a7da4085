"""The file-work child processes (tasks/file_work.py) this test process has running."""

from __future__ import annotations

import os
from pathlib import Path

from tasks.file_work_process import CHILD_MODULE


def file_work_children() -> list[int]:
    """This process's children that run the file work, from /proc."""
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
        if parent == os.getpid() and CHILD_MODULE.encode() in command:
            found.append(int(entry.name))
    return found
