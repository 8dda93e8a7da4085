"""Refuses to build automl-storage as anything but an editable install: it runs from its checkout.

The project is an application deployed from a checkout (prefect.yaml runs the flows from the
directory `prefect deploy` ran in; workers need that checkout anyway). An editable install puts
the checkout on `sys.path`, so every module and data file (`demo.py`, `docker/minio-cors.json`,
`samples/`) is found where it is. A wheel or sdist would carry a copy that finds none of them,
so building one fails with this message instead of installing something broken.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CHECKOUT_ONLY = (
    "automl-storage runs from its checkout and is not built as a wheel or sdist: in the "
    "checkout, use `uv sync` (or `pip install -e .`); see the README, 'How it is installed'"
)


class CheckoutOnlyBuildError(RuntimeError):
    """A build other than an editable install was asked for."""


class CheckoutOnlyHook(BuildHookInterface):  # type: ignore[misc]  # hatchling: not in the venv
    """Lets only the editable wheel through (`version == "editable"`)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "editable":
            raise CheckoutOnlyBuildError(CHECKOUT_ONLY)
