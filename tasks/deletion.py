"""Finishing a recorded dataset delete (moving each object the ledger lists under `deleted/`),
shared by the API's DELETE and the cleanup flow, and the catalog tasks of deletes and trash."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from prefect import task
from sqlalchemy.orm import Session

from catalog.deletion import (
    finish_if_moved,
    forget_purged,
    keys_to_move,
    record_moved,
    unfinished_deletes,
)
from tasks.records import CATALOG_RETRIES, catalog_session

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class DeleteProgress:
    """How far one attempt at finishing a delete got."""

    moved: int  # objects this attempt moved under `deleted/` and recorded as moved
    remaining: int  # objects not recorded as moved (the attempt stopped on the first of them)
    finished: bool  # the dataset is `deleted`
    error: str | None = None  # why the store or the catalog stopped this attempt


def finish_delete(
    sessions: SessionFactory, move: Callable[[str], bool], dataset_id: str
) -> DeleteProgress:
    """Moves each object of a `deleting` dataset under `deleted/` and records it, one at a time,
    then marks the dataset `deleted`. `move(key)` copies then removes (False if the live key was
    already gone: moved by an attempt that stopped before recording it). A failure of the store,
    or of the catalog connection while recording, stops the attempt: what was moved and recorded
    stays so, the rest is left for the next attempt (an object moved but not recorded is found
    gone then, and recorded)."""
    with sessions() as session:
        keys = keys_to_move(session, dataset_id)
    moved = recorded = 0
    try:
        for key in keys:
            was_there = move(key)
            with sessions() as session:
                record_moved(session, key)
            recorded += 1
            moved += was_there
        with sessions() as session:
            finished = finish_if_moved(session, dataset_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        return DeleteProgress(moved, len(keys) - recorded, False, error)
    return DeleteProgress(moved, 0, finished)


@task(task_run_name="find-unfinished-deletes", **CATALOG_RETRIES)
def find_unfinished_deletes() -> list[str]:
    with catalog_session() as session:
        return unfinished_deletes(session)


@task(task_run_name="forget-purged-{key}", **CATALOG_RETRIES)
def record_purged(key: str) -> bool:
    with catalog_session() as session:
        return forget_purged(session, key)
