"""Proof under load, the short form of `python -m bench.load` (docs/reliability.md, *Load*):
50 users upload at once through a real stack, and afterwards every byte is accounted for.

The same stack, driver and checks as the benchmark (tests/support/load_*.py): a Prefect server
and the catalog on PostgreSQL, `automl up` serving the API and running every ingestion, each
user with its own token uploading a small CSV (upload-url, presigned PUT, confirm sent twice at
once). Nothing here is timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.load_checks import LoadVerdict, check_load, wait_for_ingestions
from tests.support.load_driver import DrivePlan, DriveResult, UserPlan, driver_process
from tests.support.load_stack import LoadStack, S3Endpoint, load_stack, remove_bucket
from tests.support.stores import StoreSpec

pytestmark = [
    pytest.mark.e2e,  # PostgreSQL, a Prefect server, `automl up` and its flow-run processes
    pytest.mark.timeout(900),  # ~50 flow runs on 2 busy cores
]

USERS = 50
ROUNDS = 1
INGESTION_DEADLINE_SECONDS = 600.0


@pytest.fixture
def stack(
    tmp_path: Path, postgres_server: str, default_store_spec: StoreSpec
) -> Iterator[LoadStack]:
    spec = default_store_spec
    s3 = S3Endpoint(spec.endpoint, spec.access_key, spec.secret_key, spec.region)
    with load_stack(tmp_path, postgres_server, s3, USERS) as running:
        try:
            yield running
        finally:
            remove_bucket(running.store(), running.settings.r2_bucket_name)


def _load(stack: LoadStack) -> tuple[DriveResult, LoadVerdict]:
    users = tuple(UserPlan(i, u, t) for i, (u, t) in enumerate(sorted(stack.tokens.items())))
    with driver_process() as drive:
        result = drive(DrivePlan(stack.api_url, users, ROUNDS))
    wait_for_ingestions(stack.catalog_url, len(result.confirmed), INGESTION_DEADLINE_SECONDS)
    verdict = check_load(
        stack.settings,
        stack.store(),
        stack.api_url,
        stack.prefect_api_url,
        stack.tokens,
        result.confirmed,
    )
    return result, verdict


def test_50_users_at_once_every_version_ready_once_and_every_byte_accounted_for(
    stack: LoadStack,
) -> None:
    result, verdict = _load(stack)
    # Every upload confirmed, each first confirm sent twice at once answered the same.
    assert result.failures == []
    assert result.repeat_mismatches == []
    assert len(result.confirmed) == USERS * ROUNDS
    assert result.routes["POST /api/datasets/confirm"].outcomes.keys() <= {"202", "503"}, (
        result.routes
    )
    # Every version ready, one per upload and one completed run each; each user's usage is
    # the bytes the store holds for them; no temp object but the tombstones of used URLs.
    assert verdict.problems == []
    assert verdict.versions_ready == verdict.versions_total == USERS * ROUNDS
    assert verdict.users_checked == USERS
    assert verdict.tombstones == USERS * ROUNDS
    assert verdict.fsck == []
    assert verdict.fsck_checked  # it walked something
