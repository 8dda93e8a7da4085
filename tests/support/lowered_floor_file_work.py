"""The file-work child (tasks/file_work.py) under the small corpus's lowered Parquet expansion
floor: the child is a process of its own, where the test's monkeypatch does not reach.

    python -m tests.support.lowered_floor_file_work REQUEST_JSON
"""

from __future__ import annotations

import sys

import tasks.content_screening
from tasks.file_work import main
from tests.support.hostile_corpus import SMALL_EXPANSION_FLOOR

if __name__ == "__main__":
    tasks.content_screening.PARQUET_EXPANSION_FLOOR_BYTES = SMALL_EXPANSION_FLOOR
    main(sys.argv[1])
