"""`prefect.yaml` and the locally served deployments describe the same flows."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow

from deployments.local import local_deployments

ROOT = Path(__file__).resolve().parents[1]


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
