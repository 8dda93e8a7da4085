"""The garbage collector in a test process: the session's imports frozen once collected."""

from __future__ import annotations

import gc


def pause_collections_while_collecting() -> None:
    """Collecting imports the test modules and all they import (Prefect, polars, moto,
    scikit-learn): objects that live the whole session, which every collection of the oldest
    generation walked again (a tenth of a worker's CPU; docs/benchmarks.md, "Test lanes")."""
    gc.disable()


def freeze_the_collected_and_collect_less_often() -> None:
    """Frozen, as a serving API's start-up is (api.app.freeze_startup_heap); then collections
    come less often: the youngest generation after 10,000 allocations, not 700, the oldest
    after 100 younger collections, not 10 (the tests have memory to spare)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 100)
    gc.enable()
