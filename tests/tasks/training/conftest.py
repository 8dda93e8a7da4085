"""Training fixtures: the searches the training tests read, each run once per module (training is
the slow step; the tests only read its result)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tasks.training.train import TrainingResult, train_from_parquet
from tests.support.training_tables import customer_table, write_parquet

BUDGET_SECONDS = 4.0
SEED = 7


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """360 customers with gaps everywhere; `churned` is their label."""
    return write_parquet(
        customer_table(360, SEED), tmp_path_factory.mktemp("customers"), "customers"
    )


@pytest.fixture(scope="module")
def classification_run(customers: Path) -> TrainingResult:
    """`churned` learnt from `customers` within the budget."""
    return train_from_parquet(customers, "churned", time_budget_seconds=BUDGET_SECONDS, seed=SEED)


@pytest.fixture(scope="module")
def spenders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """360 other customers without `churned`; `spend` is their number."""
    table = customer_table(360, SEED + 1).drop("churned")
    return write_parquet(table, tmp_path_factory.mktemp("spenders"), "spenders")


@pytest.fixture(scope="module")
def regression_run(spenders: Path) -> TrainingResult:
    """`spend` learnt from `spenders` within the budget."""
    return train_from_parquet(spenders, "spend", time_budget_seconds=BUDGET_SECONDS, seed=SEED)


@pytest.fixture(scope="module")
def large_run(tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    """200,000 rows and a budget of half a second: far too little to search on all of it."""
    rows = 200_000
    rng = np.random.default_rng(1)
    signal = rng.normal(size=rows)
    table = pl.DataFrame(
        {
            "signal": signal,
            "postcode": rng.integers(0, 5_000, rows).astype(str),
            "channel": rng.choice(["web", "shop", "phone"], rows),
            "label": np.where(signal + rng.normal(scale=0.5, size=rows) > 0, 1, 0),
        }
    )
    path = write_parquet(table, tmp_path_factory.mktemp("large"), "large")
    return train_from_parquet(path, "label", time_budget_seconds=0.5, seed=0)
