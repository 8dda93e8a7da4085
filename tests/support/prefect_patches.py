"""Patches that make Prefect cheaper in the tests without changing what they assert: each a
context manager, entered for the whole session by an autouse fixture of tests/conftest.py."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from prefect.blocks.core import Block
from prefect.settings import temporary_settings


@contextmanager
def block_schemas_computed_once() -> Iterator[None]:
    """Every test saves the storage block; most of a save is Prefect rebuilding the JSON schema
    of `S3Bucket` and its nested blocks (about a hundred times per save, all pure functions of
    the class). Computed once per class and arguments, handed out as copies; the saves still go
    to the server as before."""
    computed: dict[tuple[Any, ...], dict[str, Any]] = {}
    build = Block.model_json_schema.__func__  # type: ignore[attr-defined]

    def model_json_schema(cls: type[Block], *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in computed:
            computed[key] = build(cls, *args, **kwargs)
        return copy.deepcopy(computed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Block, "model_json_schema", classmethod(model_json_schema))
        yield


@contextmanager
def block_types_registered_once() -> Iterator[None]:
    """A block's save first registers its type and schema, and those of the blocks inside it,
    with the server: about ten requests that answer the same after the first time, a third of
    the time of the save every store fixture makes. Registered once per class and Prefect
    server here; the block documents are still saved every time. Prefect keeps the ids it was
    given on the class, so a test that saves a block on another server (a real stack's) leaves
    that server's ids there: they are put back for the server in use (else its next save names a
    schema it does not have: 500)."""
    from prefect.blocks.core import _nested_type_args
    from prefect.settings import PREFECT_API_URL

    register = Block.register_type_and_schema.__func__  # type: ignore[attr-defined]
    ids_on: dict[tuple[type[Block], str | None], tuple[Any, Any]] = {}

    def restore_nested(annotation: Any) -> None:
        """The blocks inside a block, walked as Prefect's registration walks them."""
        if Block.is_block_class(annotation):
            register_once(annotation, _sync=True)
        else:
            for inner in _nested_type_args(annotation):
                restore_nested(inner)

    def register_once(cls: type[Block], *args: Any, **kwargs: Any) -> Any:
        key = (cls, PREFECT_API_URL.value())
        if kwargs.get("_sync") is not True:  # an async caller awaits what this returns
            return register(cls, *args, **kwargs)
        if key in ids_on:
            cls._block_type_id, cls._block_schema_id = ids_on[key]
            for field in cls.model_fields.values():
                restore_nested(field.annotation)
            return None
        register(cls, *args, **kwargs)
        ids_on[key] = (cls._block_type_id, cls._block_schema_id)
        return None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Block, "register_type_and_schema", classmethod(register_once))
        yield


# The longest a retry of Prefect's client waits in this process (see below), in seconds, and how
# many times it tries again: 40 short waits span 10 s, as Prefect's own 5 (2 s, 4 s, ...) do more.
PREFECT_CLIENT_BACKOFF_CAP_SECONDS = 0.25
PREFECT_CLIENT_RETRIES = 40


@contextmanager
def prefect_client_backoff_capped() -> Iterator[None]:
    """The session's Prefect server runs on SQLite, which refuses a write that races the server's
    own recording of events at once (`database is locked`: a transaction that read first cannot
    wait for the lock, whatever the busy timeout), and the server answers 503. Prefect's client
    then tries again after 2 s, 4 s, ... with jitter. Creating a deployment run inside or beside a
    flow run meets it about 20 times in the fast lane: some 45 s of sleeping. Here the client's
    wait is capped and it tries more often, so a busy server still has about 10 s to answer (two
    serve processes polling it once answered 503 six times in 1.5 s); the retry itself, and
    everything the tests assert, stay as they were."""
    import prefect.client.base as client_base
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES
    from prefect.utilities.math import clamped_poisson_interval as jittered

    def capped(average_interval: float, clamping_factor: float = 0.3) -> float:
        return min(jittered(average_interval, clamping_factor), PREFECT_CLIENT_BACKOFF_CAP_SECONDS)

    with (
        pytest.MonkeyPatch.context() as patch,
        temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: PREFECT_CLIENT_RETRIES}),
    ):
        patch.setattr(client_base, "clamped_poisson_interval", capped)
        yield
