"""schemathesis against the live OpenAPI schema: every operation, without a token, with a valid
one, and with the ids of the caller's own records; no 5xx and no answer the schema does not
declare (docs/reliability.md, "Fuzzing")."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from tests.api.test_api_quality import ROUTES
from tests.support.fuzzing import Fuzzed, FuzzReport, Operation, fuzz, load_schema, operations

# Some 3,200 requests over HTTP (about 25 s on two cores): the full lane runs it.
pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 25  # per generation mode (valid and invalid data), per pass


def _print(name: str, report: FuzzReport) -> None:
    print(
        f"fuzz {name}: {report.operations} operations, {report.examples} requests, "
        f"statuses {dict(sorted(report.statuses.items()))}, {len(report.failures)} failures, "
        f"{report.seconds:.1f} s"
    )


def test_every_operation_without_and_with_a_token(fuzzed: Fuzzed) -> None:
    schema = load_schema(fuzzed.url)
    chosen = operations(schema)
    assert len(chosen) == len(ROUTES)  # every route is fuzzed
    anonymous = fuzz(fuzzed.url, chosen, {}, EXAMPLES_PER_OPERATION)
    _print("without a token", anonymous)
    authenticated = fuzz(fuzzed.url, chosen, fuzzed.headers, EXAMPLES_PER_OPERATION)
    _print("with a token", authenticated)
    assert anonymous.failures == {}, "\n\n".join(anonymous.failures.values())
    assert authenticated.failures == {}, "\n\n".join(authenticated.failures.values())
    # Without a token an /api route answers 401, or 400 to a body that is not JSON at all
    # (FastAPI parses the body before the token is checked); 200 is /healthz.
    assert set(anonymous.statuses) <= {200, 400, 401}
    assert anonymous.statuses[401] > 10 * EXAMPLES_PER_OPERATION
    assert any(200 <= status < 300 for status in authenticated.statuses)
    assert {400, 404} <= set(authenticated.statuses)
    # Invalid data was sent to every operation but the one that takes no input at all (the
    # others take at least the token's header).
    assert authenticated.without_invalid_input == ["GET /healthz"]


def test_the_callers_own_records_with_generated_queries_and_bodies(fuzzed: Fuzzed) -> None:
    """Path ids fixed to a ready version of the caller's, so answers carry real records and are
    checked against their response schemas; the delete comes last, as it removes them."""
    schema = load_schema(fuzzed.url)
    with_ids = [operation for operation in operations(schema) if "{dataset_id}" in operation.path]
    with_ids.sort(key=lambda operation: operation.method.upper() == "DELETE")

    def owned_ids(operation: Operation) -> dict[str, Any]:
        names = {"dataset_id", "version_id"}
        return {name: fuzzed.owned[name] for name in names if f"{{{name}}}" in operation.path}

    report = fuzz(
        fuzzed.url,
        with_ids,
        fuzzed.headers,
        EXAMPLES_PER_OPERATION,
        modes=[schemathesis.GenerationMode.POSITIVE],
        path_parameters=owned_ids,
    )
    _print("the caller's records", report)
    assert report.failures == {}, "\n\n".join(report.failures.values())
    assert report.operations == 5
    assert report.statuses.get(200, 0) >= 3  # the dataset, its version and its download URL
