"""Prefect tasks around the file-level ingestion steps: validate and convert, profile, checksum."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from tasks.conversion import ConversionResult, convert_to_parquet, file_sha256, sniff_format
from tasks.profiling import profile_parquet


@task(task_run_name="convert-{version_id}")
def validate_and_convert(version_id: str, raw_path: Path, parquet_path: Path) -> ConversionResult:
    """Sniffs the content (the extension is not trusted) and streams it into zstd Parquet."""
    return convert_to_parquet(raw_path, sniff_format(raw_path), parquet_path)


@task(task_run_name="profile-{version_id}")
def profile_dataset(version_id: str, parquet_path: Path) -> dict[str, Any]:
    return profile_parquet(parquet_path)


@task(task_run_name="sha256-{label}")
def checksum(label: str, path: Path) -> str:
    return file_sha256(path)
