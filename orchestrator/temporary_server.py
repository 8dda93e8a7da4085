"""A temporary Prefect server for one command run without PREFECT_API_URL (setup-storage): say
that it is starting and where it keeps what it saves, and let it take long enough to start."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console

# How long a temporary Prefect server may take to answer (Prefect waits 20 s by default; on a
# busy 2-core machine a fresh one takes 25-40 s: it creates and migrates its SQLite database).
TEMPORARY_PREFECT_SERVER_STARTUP_SECONDS = 180


@contextlib.contextmanager
def prefect_server_for_this_run(errors: Console) -> Iterator[None]:
    """Without PREFECT_API_URL, Prefect starts a temporary server of its own at the first client
    call and waits only 20 s for it: say so on `errors`, and let it wait long enough to start."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield  # a server of the user's; or Prefect refuses to start one, and says why
        return
    errors.print(
        "starting a temporary Prefect server for this run (no PREFECT_API_URL set); "
        "this can take up to 3 minutes…",
        highlight=False,
        soft_wrap=True,
    )
    errors.print(
        f"the storage block is saved in its database under {PREFECT_HOME.value()}; "
        "set PREFECT_API_URL to save it on the Prefect server your flows run on",
        highlight=False,
        soft_wrap=True,
    )
    timeout = max(
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value(),
        TEMPORARY_PREFECT_SERVER_STARTUP_SECONDS,
    )
    with temporary_settings(updates={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: timeout}):
        yield
