"""Made-up tables to train on, written as Parquet files the way a dataset version is stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl


def customer_table(rows: int, seed: int) -> pl.DataFrame:
    """Mixed raw columns with missing values everywhere, and two targets driven by them:
    `churned` (labels) and `spend` (numbers). `customer_id` is unique per row."""
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    member = rng.random(rows) < 0.5
    joined = [date(2020, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 1500, rows)]
    noise = rng.normal(0, 1, rows)
    plan_effect = np.select([plan == "pro", plan == "plus"], [2.0, 1.0], 0.0)
    churn_score = -0.08 * tenure + 1.5 * member - plan_effect + noise + 2.5
    spend = 20 + 0.9 * tenure + 15 * plan_effect + 10 * member + 3 * noise
    gap = rng.random((4, rows)) < 0.08
    return pl.DataFrame(
        {
            "customer_id": [f"c-{seed}-{i:06d}" for i in range(rows)],
            "tenure_months": pl.Series(with_gaps(tenure, gap[0]), dtype=pl.Float64),
            "plan": pl.Series(with_gaps(plan, gap[1]), dtype=pl.String),
            "member": pl.Series(with_gaps(member, gap[2]), dtype=pl.Boolean),
            "joined": pl.Series(with_gaps(joined, gap[3]), dtype=pl.Date),
            "last_seen": [
                datetime(2025, 1, 1, tzinfo=UTC) - timedelta(hours=int(h))
                for h in rng.integers(0, 5000, rows)
            ],
            "churned": np.where(churn_score > 0, "churned", "stayed").tolist(),
            "spend": spend.tolist(),
        }
    )


def with_gaps(values: Any, gaps: np.ndarray) -> list[Any]:
    return [None if gap else value for value, gap in zip(list(values), gaps, strict=True)]


def write_parquet(table: pl.DataFrame, directory: Path, name: str) -> Path:
    path = directory / f"{name}.parquet"
    table.write_parquet(path)
    return path
