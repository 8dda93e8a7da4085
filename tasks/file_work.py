"""An ingestion's work on its file (screen, convert, profile), run in a child process:
`python -m tasks.file_work REQUEST_JSON`.

Native code (polars, pyarrow) cannot be interrupted by a flow's time limit, which stops Python
only between bytecodes; a process can be killed. So the flow runs this module in a child that
its parent kills at the deadline (tasks/file_work_process.py). It imports polars, pyarrow and
the settings, never Prefect, to start fast. The request and the result are JSON: the request
names the job and its paths, the result file receives `{"profile": ...}` or `{"error": ...}`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from core.errors import AutomlError
from core.settings import get_settings
from tasks.content_screening import ContentLimits, screen_csv, screen_parquet
from tasks.conversion import convert_to_parquet, sniff_format
from tasks.formula_cells import add_formula_like
from tasks.profiling import profile_parquet


def validate_and_convert(raw_path: Path, parquet_path: Path) -> dict[str, Any] | None:
    """Sniffs the content (the extension is not trusted), screens it for hostile shapes
    (tasks/content_screening.py) and streams it into zstd Parquet. Returns how a CSV was read
    (None for Parquet)."""
    file_format = sniff_format(raw_path)
    limits = ContentLimits.from_settings(get_settings())
    if file_format == "csv":
        screen_csv(raw_path, limits)
    else:
        screen_parquet(raw_path, limits)
    return convert_to_parquet(raw_path, file_format, parquet_path, limits).dialect


def profile_dataset(parquet_path: Path, dialect: dict[str, Any] | None) -> dict[str, Any]:
    """The Parquet file's profile, with how its upload was read (`dialect`: None for Parquet),
    so a user can see which delimiter, decimal mark and encoding were taken."""
    profile = add_formula_like(profile_parquet(parquet_path), parquet_path)
    return {**profile, "dialect": dialect}


def convert_and_profile(raw_path: Path, parquet_path: Path) -> dict[str, Any]:
    """The upload's Parquet file and its profile; the upload's local copy is removed once
    converted, to keep at most one full-size local copy beside the Parquet file."""
    dialect = validate_and_convert(raw_path, parquet_path)
    raw_path.unlink()
    return profile_dataset(parquet_path, dialect)


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """The profile a request asks for: `convert` (raw file to Parquet, then profile) or
    `profile` (a Parquet file already converted, with its upload's dialect)."""
    parquet_path = Path(request["parquet_path"])
    if request["job"] == "convert":
        return convert_and_profile(Path(request["raw_path"]), parquet_path)
    return profile_dataset(parquet_path, request.get("dialect"))


def main(request_json: str) -> None:
    """Errors of this project travel back by class name and message, so the parent raises the
    same exception; anything else by its repr, which the parent keeps to the logs."""
    request = json.loads(request_json)
    result: dict[str, Any]
    try:
        result = {"profile": run_request(request)}
    except AutomlError as exc:
        result = {"error": {"type": type(exc).__name__, "message": exc.message}}
    except Exception as exc:
        result = {"error": {"type": None, "message": repr(exc)}}
    Path(request["result_path"]).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
