"""schemathesis against the live OpenAPI schema of a served API: every operation, a bounded and
deterministic number of examples, every failure collected (not only the first)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# No 5xx, and every answer is one the schema declares, in the content type, headers and body
# the schema gives it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@dataclass(frozen=True)
class Fuzzed:
    """A served API to fuzz: its URL, a valid token's headers, and the ids of a ready version."""

    url: str
    headers: dict[str, str]
    owned: dict[str, str]


@dataclass
class FuzzReport:
    """What one pass found: how much it sent, and each distinct failure once."""

    operations: int = 0
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # "METHOD path: check" -> report
    without_invalid_input: list[str] = field(default_factory=list)
    seconds: float = 0.0


def load_schema(base_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)


def operations(schema: schemathesis.BaseSchema) -> list[Operation]:
    """Every operation of the schema; one the loader could not read fails the test here."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.append(result.ok())
    return found


def fuzz(
    base_url: str,
    chosen: Iterable[Operation],
    headers: dict[str, str],
    max_examples: int,
    modes: Iterable[schemathesis.GenerationMode] = MODES,
    path_parameters: Callable[[Operation], dict[str, Any] | None] = (lambda _: None),
) -> FuzzReport:
    """Sends up to `max_examples` generated requests per operation and mode (derandomized, no
    example database: the same ones for a given Python hash seed) and checks every answer."""
    report = FuzzReport()
    started = time.perf_counter()
    for operation in chosen:
        report.operations += 1
        for mode in modes:
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=path_parameters(operation)
            )
            try:
                _run(base_url, operation.label, strategy, headers, max_examples, report)
            except hypothesis.errors.Unsatisfiable:
                # Nothing to make invalid: an operation with no parameters and no body.
                if mode is not schemathesis.GenerationMode.NEGATIVE:
                    raise
                report.without_invalid_input.append(operation.label)
    report.seconds = time.perf_counter() - started
    return report


def _run(
    base_url: str,
    label: str,
    strategy: Any,
    headers: dict[str, str],
    max_examples: int,
    report: FuzzReport,
) -> None:
    @hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def send(case: schemathesis.Case[Operation]) -> None:
        report.examples += 1
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(
                response,
                checks=CHECKS,
                headers=headers,
                transport_kwargs={"base_url": base_url},
            )
        except FailureGroup as group:
            for failure in group.exceptions:
                report.failures.setdefault(f"{label}: {failure.title}", str(group)[:2000])

    send()
