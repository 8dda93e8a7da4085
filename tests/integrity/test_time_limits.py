"""fsck calls a version or a job stuck only past what its runs may take: the deployments' time
limits (AUTOML_FLOW_TIMEOUTS) and the runs cleanup allows an ingestion."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.settings import Settings
from integrity.limits import TimeLimits
from orchestrator.runs import MAX_INGESTION_RUNS

WEEK = 7 * 86_400


def test_the_defaults_keep_a_day_for_ingestions_and_the_budget_plus_an_hour_for_training() -> None:
    limits = TimeLimits.from_settings(Settings())
    assert limits.ingestion == timedelta(hours=24)
    assert limits.training == timedelta(seconds=60) + timedelta(hours=1)


def test_a_long_ingestion_limit_is_not_called_stuck_while_its_runs_may_still_be_live(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AUTOML_FLOW_TIMEOUTS", json.dumps({"ingest-dataset": WEEK, "train-model": WEEK})
    )
    limits = TimeLimits.from_settings(Settings())
    every_run = MAX_INGESTION_RUNS * timedelta(seconds=WEEK)
    assert limits.ingestion > every_run
    assert limits.ingestion <= every_run + MAX_INGESTION_RUNS * timedelta(hours=1)
    assert limits.training >= timedelta(seconds=WEEK)
