"""A file-work child that never finishes (named as `tasks.file_work_process.CHILD_MODULE`):
for the tests of what happens to a child whose parent is gone."""

from __future__ import annotations

import time


def main(request_json: str) -> None:
    time.sleep(600)
