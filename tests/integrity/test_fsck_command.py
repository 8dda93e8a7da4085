"""`automl fsck` as an operator runs it: a table or JSON, exit code 0 when clean, 1 when it found
differences, 2 with one readable line when the store or the catalog cannot be read."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from blocks.storage import build_storage_block
from catalog.database import migrate
from catalog.tables import User
from core.settings import get_settings
from integrity.findings import FindingKind, FsckReport
from integrity.fsck import FsckCannotRun, run_fsck
from stack import Endpoints
from tests.support.cli import assert_one_line_error, run
from tests.support.ports import free_port
from tests.support.stored_state import StoredState
from tests.support.stores import default_store_only

# e2e: `automl fsck`, run as a subprocess as an operator runs it: processes of its own.
pytestmark = pytest.mark.e2e


@default_store_only
def test_the_command_prints_a_table_or_json_and_exits_by_what_it_found(
    state: StoredState,
) -> None:
    version = state.ready_version()
    clean = run("fsck")
    assert clean.returncode == 0, clean.stderr
    assert "clean" in clean.stdout and "objects datasets/" in clean.stdout

    state.remove(version.parquet_key)
    with state.catalog.session() as session:
        session.execute(sa.update(User).values(used_bytes=7))
    found = run("fsck", "--json")
    assert found.returncode == 1, found.stderr
    report = FsckReport.model_validate_json(found.stdout)
    assert not report.clean
    assert {(f.kind, f.key) for f in report.findings} >= {
        (FindingKind.MISSING_OBJECT, version.parquet_key),
        (FindingKind.USED_BYTES_MISMATCH, None),
    }

    repaired = run("fsck", "--repair")  # the counter is fixed, the lost file is listed
    assert repaired.returncode == 1, repaired.stderr
    assert "repaired" in repaired.stdout and "used_bytes_mismatch" in repaired.stdout
    assert "missing_object" in repaired.stdout and "Traceback" not in repaired.stderr
    left = FsckReport.model_validate_json(run("fsck", "--json").stdout)
    assert FindingKind.USED_BYTES_MISMATCH not in {f.kind for f in left.findings}


def test_an_unreachable_store_is_exit_2_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    migrate(get_settings().catalog_url)
    monkeypatch.setenv("R2_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    result = run("fsck")
    assert result.returncode == 2
    assert_one_line_error(result, "cannot reach bucket automl-datasets at http://127.0.0.1:")


def test_without_a_store_to_check_it_says_so() -> None:
    result = run("fsck")
    assert result.returncode == 2
    assert_one_line_error(result, "no store to check")


@default_store_only
def test_an_unreadable_catalog_cannot_run(
    state: StoredState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AUTOML_DATABASE_URL", f"postgresql+psycopg://automl@127.0.0.1:{free_port()}/none"
    )
    get_settings.cache_clear()
    with pytest.raises(FsckCannotRun, match="cannot read the catalog"):
        run_fsck(get_settings(), state.store.block)
    result = run("fsck")
    assert result.returncode == 2
    assert_one_line_error(result, "cannot read the catalog (AUTOML_DATABASE_URL)")


def test_a_missing_bucket_cannot_run(state: StoredState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2_BUCKET_NAME", "automl-no-such-bucket")
    get_settings.cache_clear()
    storage = build_storage_block(get_settings())
    with pytest.raises(FsckCannotRun, match="cannot reach bucket automl-no-such-bucket"):
        run_fsck(get_settings(), storage)


@default_store_only
def test_without_r2_endpoint_it_checks_the_store_of_the_running_stack(
    state: StoredState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`automl up`'s embedded store, found through the endpoints file it writes."""
    version = state.ready_version()
    for name in ("R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_REGION"):
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.embedded
    Endpoints(None, "", "", state.store.spec.endpoint, settings.r2_bucket_name).write(
        settings.data_dir
    )
    state.remove(version.parquet_key)
    result = run("fsck", "--json")
    assert result.returncode == 1, result.stderr
    [finding] = [
        f for f in FsckReport.model_validate_json(result.stdout).findings if f.key is not None
    ]
    assert finding.key == version.parquet_key
