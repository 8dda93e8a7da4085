"""Prefect tasks around the file-level ingestion steps: validate and convert, profile, checksum."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from core.settings import get_settings
from tasks.content_screening import ContentLimits, screen_csv, screen_parquet
from tasks.conversion import ConversionResult, convert_to_parquet, file_sha256, sniff_format
from tasks.csv_dialect import read_dialect
from tasks.formula_cells import add_formula_like
from tasks.profiling import profile_parquet


@task(task_run_name="convert-{version_id}")
def validate_and_convert(version_id: str, raw_path: Path, parquet_path: Path) -> ConversionResult:
    """Sniffs the content (the extension is not trusted), screens it for hostile shapes
    (tasks/content_screening.py) and streams it into zstd Parquet."""
    file_format = sniff_format(raw_path)
    limits = ContentLimits.from_settings(get_settings())
    if file_format == "csv":
        screen_csv(raw_path, limits)
    else:
        screen_parquet(raw_path, limits)
    return convert_to_parquet(raw_path, file_format, parquet_path, limits)


@task(task_run_name="profile-{version_id}")
def profile_dataset(
    version_id: str, parquet_path: Path, dialect: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Parquet file's profile, with how its upload was read (`dialect`: None for Parquet),
    so a user can see which delimiter, decimal mark and encoding were taken."""
    profile = add_formula_like(profile_parquet(parquet_path), parquet_path)
    return {**profile, "dialect": dialect}


def upload_dialect(raw_path: Path) -> dict[str, Any] | None:
    """The dialect of an upload already converted by an earlier run (None for Parquet), read
    from its first bytes."""
    if sniff_format(raw_path) != "csv":
        return None
    return read_dialect(raw_path).as_profile()


@task(task_run_name="sha256-{label}")
def checksum(label: str, path: Path) -> str:
    return file_sha256(path)
