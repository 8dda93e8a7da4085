"""The ingest-dataset flow run end to end for bench/ingest.py (and bench/corpus.py): a Prefect
server, a store, and a version staged as the API leaves it, run in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.child_runs import Measurement, measure
from bench.ports import free_port
from bench.stores import StoreProcess

FLOW = "ingest-dataset flow (end to end, S3 in moto)"


def start_servers(workdir: Path) -> tuple[Any, Any, dict[str, str]]:
    """moto and a Prefect server, each in its own process, and the environment pointing at them."""
    s3_port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prefect, env = start_prefect(workdir, {"R2_ENDPOINT": f"http://127.0.0.1:{s3_port}"})
    return moto, prefect, env


def start_prefect(
    workdir: Path, variables: dict[str, str] | None = None
) -> tuple[Any, dict[str, str]]:
    """A Prefect server in its own process, and the environment pointing at it (and at
    `variables`), set in this process's environment too."""
    from stack import PrefectServerProcess

    data_dir = workdir / "state"
    prefect = PrefectServerProcess(data_dir, free_port())
    prefect.start()
    env = {
        **os.environ,
        **(variables or {}),
        "R2_BUCKET_NAME": "automl-bench",
        "AUTOML_DATA_DIR": str(data_dir),
        "PREFECT_API_URL": prefect.api_url,
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    os.environ.update(env)
    return prefect, env


class FlowRunner:
    """Creates a version for a local CSV, puts it in the store and runs the flow in a child.

    Without `store`, the store is the environment's (R2_ENDPOINT); with one, the runner points
    the storage block at that store before each run (several stores share one Prefect server)
    and measures the store's process."""

    def __init__(
        self, env: dict[str, str], user_id: str = "bench", store: StoreProcess | None = None
    ) -> None:
        from blocks.storage import s3_client, save_storage_block
        from catalog.database import catalog_for, migrate
        from catalog.tables import User
        from core.settings import Settings, get_settings

        self.store = store
        self.label = FLOW
        if store is not None:
            env = {
                **env,
                "R2_ENDPOINT": store.endpoint,
                "R2_ACCESS_KEY_ID": store.access_key,
                "R2_SECRET_ACCESS_KEY": store.secret_key,
                "R2_REGION": store.region,
            }
            self.label = f"ingest-dataset flow (end to end, S3 in {store.title})"
        self.env = env
        self.user_id = user_id
        settings = get_settings()
        if store is not None:
            settings = Settings.model_validate(_store_variables(env))
        self.settings = settings
        block = save_storage_block(settings)
        self.s3 = s3_client(block)
        self.bucket = settings.r2_bucket_name
        self._prepare_bucket()
        migrate(settings.catalog_url)
        self.catalog = catalog_for(settings.catalog_url)
        with self.catalog.session() as session:
            if session.get(User, user_id) is None:
                session.add(User(id=user_id, tier="enterprise"))

    def _prepare_bucket(self) -> None:
        """setup-storage, as `automl up` runs it; a store without lifecycle rules (s3rver) gets
        its bucket only."""
        from flows.setup_storage import setup_storage

        if self.store is None or self.store.lifecycle_rules:
            setup_storage()
        else:
            self.s3.create_bucket(Bucket=self.bucket)

    def stage(self, path: Path, name: str) -> str:
        """A confirmed upload of `path` with its pending version, as the API leaves it; the
        version's id."""
        from catalog.datasets import create_upload, create_version

        with self.catalog.session() as session:
            upload = create_upload(
                session,
                self.user_id,
                path.name,
                path.stat().st_size,
                datetime.now(UTC) + timedelta(hours=6),
            )
            version = create_version(session, upload.id, name)
            temp_key, version_id = upload.temp_key, version.id
        self.s3.upload_file(str(path), self.bucket, temp_key)
        return version_id

    def run(self, csv_path: Path, size_text: str) -> Measurement:
        from blocks.storage import save_storage_block

        store = self.store
        if store is not None:
            save_storage_block(self.settings)  # the flow's child loads the block
            store.reset_peak()
        cpu_before = store.cpu_seconds() if store is not None else 0.0
        upload_start = time.perf_counter()
        version_id = self.stage(csv_path, f"bench {size_text}")
        upload_seconds = time.perf_counter() - upload_start
        run = measure(
            self.label,
            f"from flows.ingest_dataset import ingest_dataset; ingest_dataset({version_id!r})",
            self.env,
        )
        if store is not None:
            run.store = {
                "peak_rss_mb": store.peak_rss_mb(),
                "cpu_seconds": store.cpu_seconds() - cpu_before,
                "upload_seconds": upload_seconds,
            }
        return run


def _store_variables(env: dict[str, str]) -> dict[str, str]:
    """The settings' variables of `env`, as Settings' keyword arguments (its aliases)."""
    from core.settings import Settings

    aliases = {(info.alias or name) for name, info in Settings.model_fields.items()}
    return {key: value for key, value in env.items() if key in aliases}
