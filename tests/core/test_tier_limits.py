"""The default tiers' limits of work in flight stay below the deployments' concurrency in
prefect.yaml, so one user's burst never holds every slot the other tenants wait for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.settings import DEFAULT_TIERS

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"


def _concurrency(deployment: str) -> int:
    document: dict[str, Any] = yaml.safe_load(PREFECT_YAML.read_text())
    (limit,) = [d["concurrency_limit"] for d in document["deployments"] if d["name"] == deployment]
    assert isinstance(limit, int)
    return limit


def test_no_default_tier_lets_one_user_take_every_deployment_slot() -> None:
    ingestions, trainings = _concurrency("ingest-dataset"), _concurrency("train-model")
    for name, tier in DEFAULT_TIERS.items():
        assert tier.max_ingestions_in_flight < ingestions, name
        assert tier.max_training_jobs_in_flight < trainings, name
