"""`prefect.yaml` and the locally served deployments describe the same flows."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow

from deployments.local import local_deployments

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> list[dict[str, object]]:
    return list(yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"])


def test_every_entrypoint_is_a_flow_named_as_its_deployment() -> None:
    for deployment in _declared():
        module_path, attribute = str(deployment["entrypoint"]).split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, attribute)
        assert isinstance(flow, Flow)
        assert flow.name == deployment["name"]
        assert deployment["work_pool"] == {"name": "automl-process"}


def test_the_local_stack_serves_what_prefect_yaml_declares() -> None:
    served = {(d.flow_name, d.name) for d in local_deployments()}
    declared = {(str(d["name"]), str(d["name"])) for d in _declared()}
    assert served == declared


def test_render_plots_is_triggered_by_model_published_in_both_places() -> None:
    [declared] = [d for d in _declared() if d["name"] == "render-plots"]
    triggers: list[dict[str, Any]] = declared["triggers"]  # type: ignore[assignment]
    [yaml_trigger] = triggers
    [served] = [d for d in local_deployments() if d.name == "render-plots"]
    [local_trigger] = served.triggers
    for trigger in (yaml_trigger, local_trigger.model_dump(mode="json")):
        assert set(trigger["expect"]) == {"automl.model.published"}
        assert trigger["match"] == {"prefect.resource.id": "automl.model.*"}
        assert trigger["parameters"] == {"job_id": "{{ event.payload.job_id }}"}


def _served_schedules(name: str) -> list[dict[str, Any]]:
    [served] = [d for d in local_deployments() if d.name == name]
    schedules = [s.schedule for s in served.schedules or [] if s.active]
    return [s.model_dump(mode="json") for s in schedules if s is not None]


def _declared_schedules(name: str) -> list[dict[str, Any]]:
    [declared] = [d for d in _declared() if d["name"] == name]
    schedules: list[dict[str, Any]] = declared["schedules"]  # type: ignore[assignment]
    assert all(s.get("active", True) for s in schedules)
    return schedules


def test_cleanup_runs_every_15_minutes_in_both_places() -> None:
    [served] = _served_schedules("cleanup-stale-uploads")
    [declared] = _declared_schedules("cleanup-stale-uploads")
    assert served["interval"] == declared["interval"] == 900


def test_purge_runs_daily_in_both_places() -> None:
    [served] = _served_schedules("purge-deleted")
    [declared] = _declared_schedules("purge-deleted")
    for schedule in (served, declared):
        assert schedule["cron"] == "0 3 * * *"
        assert schedule["timezone"] == "UTC"


def test_only_the_lifecycle_flows_are_scheduled() -> None:
    scheduled = {d.name for d in local_deployments() if d.schedules}
    declared = {str(d["name"]) for d in _declared() if d.get("schedules")}
    assert scheduled == declared == {"cleanup-stale-uploads", "purge-deleted"}
