"""Prefect tasks around the file-level ingestion steps: convert and profile (in a child process
with a deadline, tasks/file_work_process.py), checksum."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from tasks.conversion import file_sha256, sniff_format
from tasks.csv_dialect import read_dialect
from tasks.file_work_process import run_file_work


@task(task_run_name="convert-and-profile-{version_id}")
def convert_and_profile(
    version_id: str, raw_path: Path, parquet_path: Path, seconds: float | None
) -> dict[str, Any]:
    """Screens, converts and profiles the upload (tasks/file_work.py) within `seconds`; the
    upload's local copy is removed once converted. Returns the profile, dialect included."""
    request = {"job": "convert", "raw_path": str(raw_path), "parquet_path": str(parquet_path)}
    return run_file_work(request, parquet_path.parent, seconds)


@task(task_run_name="profile-{version_id}")
def profile_dataset(
    version_id: str, parquet_path: Path, dialect: dict[str, Any] | None, seconds: float | None
) -> dict[str, Any]:
    """The profile of a Parquet file already converted, with how its upload was read
    (`dialect`: None for Parquet), within `seconds`."""
    request = {"job": "profile", "parquet_path": str(parquet_path), "dialect": dialect}
    return run_file_work(request, parquet_path.parent, seconds)


def upload_dialect(raw_path: Path) -> dict[str, Any] | None:
    """The dialect of an upload already converted by an earlier run (None for Parquet), read
    from its first bytes."""
    if sniff_format(raw_path) != "csv":
        return None
    return read_dialect(raw_path).as_profile()


@task(task_run_name="sha256-{label}")
def checksum(label: str, path: Path) -> str:
    return file_sha256(path)
