"""The one place that says how long a passing state may last before fsck calls it stuck, and
how long an object may go unrecorded while the step that records it is still running."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.settings import Settings
from core.upload_windows import longest_upload_lifetime
from orchestrator.runs import MAX_INGESTION_RUNS

# `cleanup-stale-uploads` runs every 15 minutes: what it cleans up (expired uploads, stray temp
# objects, unfinished deletes) is a difference once it has had four chances.
CLEANUP_GRACE = timedelta(hours=1)
# An ingestion run ends within its deployment's time limit (AUTOML_FLOW_TIMEOUTS, up to 7 days);
# cleanup restarts a dead one within its grace and gives up after MAX_INGESTION_RUNS runs. A
# version pending or ingesting unchanged longer than all those runs could take, and never less
# than a day, is stuck.
INGESTION_LIMIT = timedelta(hours=24)
# A training run: the search budget, plus loading the data and publishing the model; and never
# less than the train-model time limit, which is what stops a run.
TRAINING_OVERHEAD = timedelta(hours=1)


@dataclass(frozen=True)
class TimeLimits:
    cleanup_grace: timedelta  # past its deadline, what cleanup removes is a difference
    orphan_age: timedelta  # a temp object no upload names is cleanup's once this old
    ingestion: timedelta  # a version pending or ingesting unchanged this long is stuck
    training: timedelta  # a job pending or running unchanged this long is stuck

    @classmethod
    def from_settings(cls, settings: Settings) -> TimeLimits:
        return cls(
            cleanup_grace=CLEANUP_GRACE,
            orphan_age=longest_upload_lifetime(settings.presign_expires_seconds) + CLEANUP_GRACE,
            ingestion=max(
                INGESTION_LIMIT,
                MAX_INGESTION_RUNS
                * (timedelta(seconds=settings.flow_timeouts["ingest-dataset"]) + CLEANUP_GRACE),
            ),
            training=max(
                timedelta(seconds=settings.training_budget_seconds) + TRAINING_OVERHEAD,
                timedelta(seconds=settings.flow_timeouts["train-model"]),
            ),
        )
