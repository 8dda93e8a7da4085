"""The CSVs bench/ingest.py converts: generated once per size (or shape) and reused by later
runs, so a run measures the conversion, not the writing of its input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_size(text: str) -> int:
    for unit, factor in UNITS.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def generate_csv(path: Path, size: int) -> int:
    """A CSV of about `size` bytes, 10 mixed columns; reused if already there. Returns rows."""
    marker = path.with_suffix(".rows")
    if path.exists() and marker.exists() and path.stat().st_size >= size:
        return int(marker.read_text())
    rng = np.random.default_rng(7)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    rows = 0
    with path.open("wb") as handle:
        first = True
        while handle.tell() < size:
            n = min(500_000, max(1_000, size // 80))  # ~80 bytes a row: small files stay small
            frame = pl.DataFrame(
                {
                    "id": np.arange(rows, rows + n),
                    "age": rng.integers(18, 90, n),
                    "income": rng.normal(50_000, 15_000, n).round(2),
                    "score": rng.random(n),
                    "city": rng.choice(words, n),
                    "segment": rng.choice(words[:3], n),
                    "visits": rng.poisson(4, n),
                    "ratio": rng.random(n) * 100,
                    "code": rng.integers(0, 1_000_000, n).astype(str),
                    "churned": rng.integers(0, 2, n),
                }
            )
            frame.write_csv(handle, include_header=first)
            first = False
            rows += n
    marker.write_text(str(rows))
    return rows


def generate_wide_csv(path: Path, rows: int, columns: int) -> int:
    """`rows` x `columns` random floats (4 decimals) named c0, c1, ...; reused if there."""
    if not path.exists():
        values = np.random.default_rng(7).random((rows, columns)).round(4)
        pl.DataFrame(values, schema=[f"c{i}" for i in range(columns)]).write_csv(path)
    return rows
