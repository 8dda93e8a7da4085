"""The file-work child (tasks/file_work.py) under the small corpus's lowered Parquet expansion
floor: the child is a process of its own, where the test's monkeypatch does not reach. Named
as `tasks.file_work_process.CHILD_MODULE`, it is what the file-work server's children run."""

from __future__ import annotations

import tasks.content_screening
import tasks.file_work
from tests.support.hostile_corpus import SMALL_EXPANSION_FLOOR


def main(request_json: str) -> None:
    tasks.content_screening.PARQUET_EXPANSION_FLOOR_BYTES = SMALL_EXPANSION_FLOOR
    tasks.file_work.main(request_json)
