"""An ingestion's file work runs in a child process: its result and its errors come back as
they would in the flow's own process, and at its deadline the child is killed, leaving nothing
running and no Parquet file (tasks/file_work_process.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ContentRejectedError
from tasks.file_work_process import FileWorkTimeoutError, run_file_work
from tests.support.child_processes import file_work_children

CSV = b"id,name,score\n1,ada,3.5\n2,bob,\n3,cy,7.25\n"


def _convert(tmp_path: Path, content: bytes, seconds: float | None) -> dict[str, object]:
    raw = tmp_path / "raw.csv"
    raw.write_bytes(content)
    request = {"job": "convert", "raw_path": str(raw), "parquet_path": str(tmp_path / "p.parquet")}
    return run_file_work(request, tmp_path, seconds)


def test_the_child_converts_and_profiles_and_removes_the_uploads_copy(tmp_path: Path) -> None:
    profile = _convert(tmp_path, CSV, None)
    assert (profile["row_count"], profile["column_count"]) == (3, 3)
    assert isinstance(profile["dialect"], dict) and profile["dialect"]["delimiter"] == ","
    assert sorted(path.name for path in tmp_path.iterdir()) == ["p.parquet"]
    assert file_work_children() == []


def test_a_rejection_in_the_child_is_raised_with_its_type_and_message(tmp_path: Path) -> None:
    with pytest.raises(ContentRejectedError) as raised:
        _convert(tmp_path, b"a,a\n1,2\n", None)
    assert "appears twice" in raised.value.message
    assert file_work_children() == []


def test_a_child_past_its_deadline_is_killed_and_leaves_no_parquet(tmp_path: Path) -> None:
    """A deadline shorter than the child's start: it is killed wherever it is."""
    with pytest.raises(FileWorkTimeoutError):
        _convert(tmp_path, CSV, 0.01)
    assert file_work_children() == []
    assert not (tmp_path / "p.parquet").exists()


def test_an_unexpected_error_in_the_child_comes_back_as_an_internal_error(
    tmp_path: Path,
) -> None:
    """Not a sentence for a user: the flow records the generic reason and logs this one."""
    request = {"job": "profile", "parquet_path": str(tmp_path / "absent.parquet")}
    with pytest.raises(RuntimeError, match="file work failed in its child process"):
        run_file_work(request, tmp_path, None)
    assert file_work_children() == []
