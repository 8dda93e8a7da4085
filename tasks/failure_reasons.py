"""The sentence a failed version or job records for its user: ours, never an exception's text."""

from __future__ import annotations

from core.errors import AutomlError


def internal_failure_reason(what: str, flow_run_id: str | None) -> str:
    """For a failure that is not the user's input: an exception's text may name the store's
    endpoint, a SQL statement or a temp path, so it stays in the run's logs, which this
    sentence points to by the run id."""
    where = f"run {flow_run_id}" if flow_run_id else "its flow run"
    return f"{what} failed on our side; the details are logged under {where}"


def failure_reason(exc: BaseException, what: str, flow_run_id: str | None) -> str:
    """Our own errors (`AutomlError`) are sentences written for the user; anything else is
    told by `internal_failure_reason`."""
    if isinstance(exc, AutomlError):
        return exc.message
    return internal_failure_reason(what, flow_run_id)
