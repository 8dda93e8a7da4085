"""An ingestion's file work runs in a child process: its result and its errors come back as
they would in the flow's own process, and at its deadline the child is killed, leaving nothing
running and no Parquet file (tasks/file_work_process.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.errors import ContentRejectedError
from tasks.file_work_process import CHILD_MODULE, FileWorkTimeoutError, run_file_work
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


def _file_work_servers() -> list[int]:
    """This process's servers of `tasks.file_work` (other tests may leave servers of others)."""
    return [
        process.pid
        for process in psutil.Process().children()
        if process.cmdline()[-2:] == ["tasks.file_work_server", CHILD_MODULE]
    ]


def test_the_children_are_forked_by_one_warm_server_with_the_callers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second piece of work reuses the server started for the first (no new interpreter),
    and its child reads the settings the caller has now, not those the server started with."""
    (tmp_path / "first").mkdir()
    _convert(tmp_path / "first", CSV, None)
    servers = _file_work_servers()
    assert servers  # idle now, kept for the next request
    monkeypatch.setenv("AUTOML_MAX_COLUMNS", "2")
    (tmp_path / "second").mkdir()
    with pytest.raises(ContentRejectedError, match="columns"):
        _convert(tmp_path / "second", CSV, None)
    assert _file_work_servers() == servers
    assert file_work_children() == []


@pytest.mark.e2e  # a Python process of its own, killed
def test_a_child_whose_flow_process_is_killed_is_killed_too(tmp_path: Path) -> None:
    """The server sees its stdin close when the process that asked for the work dies, however
    it died, and kills the child: nothing keeps converting a file nobody will read."""
    script = (
        "import sys, tasks.file_work_process as p; from pathlib import Path\n"
        "p.CHILD_MODULE = 'tests.support.stalling_file_work'\n"
        "p.run_file_work({'job': 'profile', 'parquet_path': 'x'}, Path(sys.argv[1]), None)\n"
    )
    flow = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    try:
        child = _wait_for_stalled_child(flow.pid)
        flow.kill()
        flow.wait()
        assert psutil.wait_procs([child], timeout=30)[1] == []  # gone
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.wait()


def _wait_for_stalled_child(flow_pid: int) -> psutil.Process:
    """The grandchild of `flow_pid` running the stalling work, once it exists."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for process in psutil.Process(flow_pid).children(recursive=True):
            if process.ppid() != flow_pid:
                return process
        time.sleep(0.1)
    raise AssertionError("the file-work child never started")
