"""Storage tasks retry transient failures (5xx, throttling, connections) and never 4xx."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from botocore.exceptions import ClientError
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State

from tasks import storage
from tests.support.fault_proxy import FaultProxy
from tests.support.stores import Store

KEY = "uploads/temp/retry.csv"


def _run_count(state: State[Any]) -> int:
    async def read() -> int:
        async with get_client() as client:
            task_run = await client.read_task_run(UUID(str(state.state_details.task_run_id)))
            return task_run.run_count

    return asyncio.run(read())


def _is_head_of_key(method: str, path: str) -> bool:
    return method == "HEAD" and path.endswith("/" + KEY)


def test_a_503_burst_is_retried_until_the_task_succeeds(
    faulty_bucket: tuple[Store, FaultProxy],
) -> None:
    bucket, proxy = faulty_bucket
    bucket.client.put_object(Bucket=bucket.bucket_name, Key=KEY, Body=b"abc")
    # botocore tries 3 times itself; a fourth failure makes the Prefect task retry.
    fault = proxy.fail(_is_head_of_key, 503, "SlowDown", times=4)
    state = storage.head_object(KEY, return_state=True)
    assert state.is_completed()
    info = state.result()
    assert info is not None and info.size == 3
    assert fault.hits == 4
    assert _run_count(state) == 2


def test_a_403_fails_at_once_without_retries(faulty_bucket: tuple[Store, FaultProxy]) -> None:
    bucket, proxy = faulty_bucket
    bucket.client.put_object(Bucket=bucket.bucket_name, Key=KEY, Body=b"abc")
    fault = proxy.fail(_is_head_of_key, 403, "AccessDenied")
    state = storage.head_object(KEY, return_state=True)
    assert state.is_failed()
    with pytest.raises(ClientError, match="403"):
        state.result()
    assert fault.hits == 1
    assert _run_count(state) == 1
