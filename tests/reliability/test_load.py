"""Proof under load, the short form of `python -m bench.load` (docs/reliability.md, *Load*):
50 users upload at once through a real stack, and afterwards every byte is accounted for.

The same stack, driver and checks as the benchmark (tests/support/load_*.py): a Prefect server
and the catalog on PostgreSQL, `automl up` serving the API and running every ingestion, each
user with its own token uploading a small CSV (upload-url, presigned PUT, confirm sent twice at
once). Nothing here is timed.
"""

from __future__ import annotations

import pytest

from tests.support.load_checks import LOAD_ROUNDS as ROUNDS
from tests.support.load_checks import LOAD_USERS as USERS
from tests.support.load_checks import Loaded, check_loaded

pytestmark = [
    pytest.mark.e2e,  # PostgreSQL, a Prefect server, `automl up` and its flow-run processes
    pytest.mark.timeout(900),  # ~50 flow runs on 2 busy cores
]


def test_50_users_at_once_every_version_ready_once_and_every_byte_accounted_for(
    loaded: Loaded,
) -> None:
    result, verdict = loaded.result, loaded.verdict
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


def test_the_load_checks_see_a_lost_file_and_a_leftover_temp_object(loaded: Loaded) -> None:
    """The checks above can fail: the same stack after the load, with one version's Parquet
    file removed and a temp object that is no tombstone."""
    stack, result = loaded.stack, loaded.result
    lost = result.confirmed[0]
    store, bucket = stack.store(), stack.settings.r2_bucket_name
    [parquet_key] = [
        item["Key"]
        for item in store.list_objects_v2(Bucket=bucket, Prefix=f"datasets/{lost.user_id}/")[
            "Contents"
        ]
    ]
    store.delete_object(Bucket=bucket, Key=parquet_key)
    store.put_object(Bucket=bucket, Key="uploads/temp/left-over.csv", Body=b"id\n1\n")

    again = check_loaded(stack, result)
    problems = "\n".join(again.problems)
    assert f"{parquet_key}: a ready version's Parquet file is missing" in problems
    assert "uploads/temp/left-over.csv (5 bytes): a temp object that is not a tombstone" in problems
    assert f"{lost.user_id}: usage " in problems  # the API counts bytes the store lost
    assert any(parquet_key in finding for finding in again.fsck), again.fsck
    assert any("left-over.csv" in finding for finding in again.fsck), again.fsck
