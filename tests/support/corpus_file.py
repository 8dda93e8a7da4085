"""One file of the hostile corpus (tests/support/hostile_corpus.py): the outcome it must end in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

Scale = Literal["small", "full"]
Check = Callable[[pl.DataFrame, dict[str, object]], None]


@dataclass(frozen=True)
class CorpusFile:
    name: str
    path: Path
    outcome: Literal["ready", "failed"]
    message: str = ""  # words the failure message holds
    check: Check | None = None  # of the stored dataset and its profile, for ready files
    notes: str = ""  # the shape, for the benchmark's table
    anchor: Literal["csv", "parquet", ""] = ""  # bare polars can be timed on it
    tags: list[str] = field(default_factory=list)
