"""Benchmark: `automl fsck` over a large bucket, beside a bare paginated listing of it.

    python3 -m uv run python -m bench.fsck [--sizes 20000,100000] [--deep-size 2000]

For each size, a bucket on the embedded S3 server (moto, in this process) holds that many small
objects with the catalog rows that account for them (SQLite): ready versions (a Parquet file
and the tombstone at its upload's temp key) and published jobs (model, metadata, two plots),
about 2/5 of the objects each. Then, each in a fresh child process: the anchor, a bare listing
of every prefix page by page (what any walk of the bucket costs), and `run_fsck` over the same
bucket (read-only; with `--deep-size`, a smaller bucket hashed too), then the anchor again.
Each child reports its time and its own peak RSS (VmHWM). fsck must find nothing; nothing else
is asserted: it prints a table, and fsck's time as a multiple of the anchor's mean.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = ("uploads/temp/", "datasets/", "models/", "plots/", "deleted/")
BODY = b"12345678"  # every object but tombstones: 8 bytes

# Run in the child; prints one JSON line. VmHWM, not wait4's ru_maxrss: Linux carries the
# parent's peak into the child's figure across exec (see bench/child_runs.py).
CHILD = """
import json, re, sys, time
from core.settings import get_settings
from blocks.storage import build_storage_block
from blocks.objects import iter_objects
job = sys.argv[1]
settings = get_settings()
storage = build_storage_block(settings)
start = time.perf_counter()
if job == "listing":
    objects = sum(1 for prefix in PREFIXES for _ in iter_objects(storage, prefix))
    result = {"objects": objects}
else:
    from integrity.fsck import run_fsck
    report = run_fsck(settings, storage, deep=job == "deep")
    result = {
        "objects": sum(n for what, n in report.checked.items() if what.startswith("objects ")),
        "findings": len(report.findings),
        "first": [f.model_dump(mode="json") for f in report.findings[:3]],
    }
result["seconds"] = time.perf_counter() - start
with open("/proc/self/status") as status:
    result["peak_rss_mb"] = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) / 1024
print("BENCH " + json.dumps(result), flush=True)
"""


@dataclass
class Made:
    objects: int
    ledger_rows: int


def fill(endpoint: str, bucket: str, database_url: str, objects: int) -> Made:
    """Writes about `objects` objects straight into moto's backend (no HTTP: building the bucket
    is not what is measured) and the catalog rows that account for each."""
    import sqlalchemy as sa
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    from catalog.database import Catalog, migrate
    from catalog.tables import Dataset, DatasetVersion, Job, StoredObject, Upload, User
    from core.keys import dataset_key, model_key, model_metadata_key, plot_key, temp_upload_key

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(bucket, "us-east-1")
    migrate(database_url)
    catalog = Catalog(database_url)
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)  # the uploads' URLs still valid: their tombstones are legit
    versions = objects * 2 // 10  # 2 objects each
    jobs = (objects - 2 * versions) // 4  # 4 objects each
    users = [f"user-{n:03d}" for n in range(100)]
    rows: dict[Any, list[dict[str, Any]]] = {
        User: [{"id": u, "tier": "enterprise", "used_bytes": 0} for u in users],
        Dataset: [],
        Upload: [],
        DatasetVersion: [],
        Job: [],
        StoredObject: [],
    }
    sha = hashlib.sha256(BODY).hexdigest()
    used: dict[str, int] = dict.fromkeys(users, 0)
    ready: list[tuple[str, str, str]] = []
    for n in range(versions):
        user = users[n % len(users)]
        dataset_id, upload_id, version_id = (str(uuid.uuid4()) for _ in range(3))
        temp_key, parquet_key = (
            temp_upload_key(upload_id, "csv"),
            dataset_key(user, dataset_id, version_id),
        )
        rows[Dataset].append({"id": dataset_id, "user_id": user, "name": "d", "status": "active"})
        rows[Upload].append(
            {
                "id": upload_id,
                "user_id": user,
                "filename": "d.csv",
                "extension": "csv",
                "temp_key": temp_key,
                "size_bytes": 8,
                "reserved_bytes": 0,
                "status": "ingested",
                "expires_at": later,
            }
        )
        rows[DatasetVersion].append(
            {
                "id": version_id,
                "dataset_id": dataset_id,
                "upload_id": upload_id,
                "status": "ready",
                "parquet_key": parquet_key,
                "raw_size_bytes": 8,
                "size_bytes": len(BODY),
                "sha256": sha,
            }
        )
        rows[StoredObject].append(_ledger(parquet_key, user, dataset_id, "datasets", upload_id))
        used[user] += len(BODY)
        backend.put_object(bucket, parquet_key, BODY)
        backend.put_object(bucket, temp_key, b"")
        ready.append((user, dataset_id, version_id))
    for n in range(jobs):
        user, dataset_id, version_id = ready[n % len(ready)]
        job_id = str(uuid.uuid4())
        rows[Job].append(
            {
                "id": job_id,
                "user_id": user,
                "version_id": version_id,
                "target": "t",
                "status": "succeeded",
                "plots_rendered_at": now,
            }
        )
        keys = [model_key(user, job_id), model_metadata_key(user, job_id)]
        keys += [plot_key(job_id, name) for name in ("a", "b")]
        for key in keys:
            category = "plots" if key.startswith("plots/") else "models"
            rows[StoredObject].append(_ledger(key, user, dataset_id, category, None, job_id))
            backend.put_object(bucket, key, BODY)
    for user, total in used.items():
        next(r for r in rows[User] if r["id"] == user)["used_bytes"] = total
    with catalog.engine.begin() as connection:
        for table, values in rows.items():
            for start in range(0, len(values), 5000):
                connection.execute(sa.insert(table), values[start : start + 5000])
    catalog.dispose()
    return Made(objects=2 * versions + 4 * jobs, ledger_rows=len(rows[StoredObject]))


def _ledger(
    key: str,
    user: str,
    dataset_id: str,
    category: str,
    upload_id: str | None,
    job_id: str | None = None,
) -> dict[str, Any]:
    return {
        "key": key,
        "user_id": user,
        "dataset_id": dataset_id,
        "category": category,
        "state": "live",
        "size_bytes": len(BODY),
        "upload_id": upload_id,
        "job_id": job_id,
    }


def run_child(job: str, env: dict[str, str]) -> dict[str, Any]:
    code = f"PREFIXES = {PREFIXES!r}\n" + CHILD
    result = subprocess.run(
        [sys.executable, "-c", code, job],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
            return parsed
    raise RuntimeError(f"{job} failed:\n{result.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="20000,100000", help="objects per bucket, comma-separated"
    )
    parser.add_argument(
        "--deep-size", type=int, default=2000, help="objects of the --deep run (0: none)"
    )
    args = parser.parse_args()
    from blocks.embedded_s3 import EmbeddedS3Server

    console = Console()
    table = Table(title="automl fsck over a bucket of small objects (moto, SQLite catalog)")
    columns = ("objects", "ledger rows", "job", "seconds", "objects/s", "peak RSS MB", "x listing")
    for column in columns:
        table.add_column(column, justify="right" if column != "job" else "left")
    sizes = [int(size) for size in args.sizes.split(",") if size]
    runs = [(size, ("fsck",)) for size in sizes]
    if args.deep_size:
        runs.append((args.deep_size, ("deep",)))
    with EmbeddedS3Server() as server, tempfile.TemporaryDirectory(prefix="bench-fsck-") as work:
        for size, jobs in runs:
            bucket = f"bench-fsck-{uuid.uuid4().hex[:8]}"
            database_url = f"sqlite:///{Path(work) / (bucket + '.db')}"
            started = time.perf_counter()
            made = fill(server.endpoint_url, bucket, database_url, size)
            console.print(
                f"{made.objects} objects, {made.ledger_rows} ledger rows made in "
                f"{time.perf_counter() - started:.1f} s",
                highlight=False,
            )
            env = {
                **os.environ,
                "R2_ENDPOINT": server.endpoint_url,
                "R2_BUCKET_NAME": bucket,
                "R2_REGION": "us-east-1",
                "AUTOML_DATABASE_URL": database_url,
                "AUTOML_DATA_DIR": work,
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
            # The anchor before and after fsck: the two bracket what the machine gave both.
            results = [(job, run_child(job, env)) for job in ("listing", *jobs, "listing")]
            listings = [r["seconds"] for job, r in results if job == "listing"]
            anchor = sum(listings) / len(listings)
            for job, result in results:
                if job != "listing" and result["findings"]:
                    raise SystemExit(f"fsck found differences: {result['first']}")
                table.add_row(
                    str(made.objects),
                    str(made.ledger_rows),
                    "bare listing (anchor)" if job == "listing" else f"run_fsck ({job})",
                    f"{result['seconds']:.1f}",
                    f"{result['objects'] / result['seconds']:,.0f}",
                    f"{result['peak_rss_mb']:.0f}",
                    f"{result['seconds'] / anchor:.2f}",
                )
    console.print(table)


if __name__ == "__main__":
    main()
