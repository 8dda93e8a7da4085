"""A flow that reports which process imported its module and which one ran it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from prefect import flow

IMPORTED_IN = os.getpid()


def imported_in() -> int:
    """Read from the module as loaded in the running process (the flow's own function reaches
    the child pickled by value, with its globals as they were in the parent)."""
    return int(sys.modules[__name__].IMPORTED_IN)


@flow(name="warm-probe")
def warm_probe(out: str) -> None:
    facts = {"imported_in": imported_in(), "ran_in": os.getpid(), "parent": os.getppid()}
    Path(out).write_text(json.dumps(facts))
