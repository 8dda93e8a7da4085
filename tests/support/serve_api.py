"""Serves `api.app:app_from_environment` on 127.0.0.1:PORT, the app built before uvicorn's loop.

    python -m tests.support.serve_api PORT

`uvicorn --factory api.app:app_from_environment` calls the factory inside its running event
loop, where Prefect's `S3Bucket.load` (async-dispatched) returns a coroutine instead of the
block, so every request that touches storage fails. Until `load_storage_block` forces the sync
path (`_sync=True`), the scale-out test serves the same factory from here.
"""

from __future__ import annotations

import sys

import uvicorn

from api.app import app_from_environment

if __name__ == "__main__":
    uvicorn.run(
        app_from_environment(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning"
    )
