"""The ledger of stored objects, the quota it feeds, and the recorded delete, on SQLite and
PostgreSQL: every byte kept for a user counts until it is purged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from catalog.database import Catalog, migrate
from catalog.datasets import (
    IngestionOutcome,
    create_upload,
    create_version,
    mark_failed,
    mark_ingesting,
    mark_ready,
)
from catalog.deletion import (
    claim_kept_upload,
    finish_if_moved,
    forget_purged,
    keys_to_move,
    mark_dataset_deleted,
    purgeable_trash,
    record_moved,
    unfinished_deletes,
)
from catalog.jobs import create_job, mark_plots_rendered, mark_running, mark_succeeded, users_job
from catalog.listing import versions_of
from catalog.tables import Dataset, DatasetVersion, Job, Upload, User
from catalog.uploads import committed_bytes, reserve_parquet, reserve_upload
from catalog.usage import stored_usage
from core.errors import ConflictError, NotFoundError, QuotaExceededError
from core.settings import Settings
from core.statuses import DatasetStatus, UploadStatus, VersionStatus

pytestmark = pytest.mark.catalog_users(alice="tiny")

# A tier whose quota is small enough to reach with made-up sizes.
SETTINGS = Settings(AUTOML_TIERS='{"tiny": {"max_file_bytes": 1000, "quota_bytes": 2000}}')
TINY = SETTINGS.tier("tiny")


def _outcome(size: int) -> IngestionOutcome:
    return IngestionOutcome("a" * 64, "b" * 64, size, 10, 2, {"row_count": 10})


def _confirmed(catalog: Catalog, size: int, dataset_id: str | None = None) -> tuple[str, str]:
    """A confirmed upload of `size` bytes; returns (dataset id, version id)."""
    expires = datetime.now(UTC) + timedelta(hours=1)
    with catalog.session() as session:
        upload = reserve_upload(session, "alice", TINY, "a.csv", size, expires)
        version = create_version(session, upload.id, "sales", dataset_id)
        return version.dataset_id, version.id


def _ready(catalog: Catalog, raw: int, parquet: int, dataset_id: str | None = None) -> str:
    dataset_id, version_id = _confirmed(catalog, raw, dataset_id)
    with catalog.session() as session:
        assert mark_ingesting(session, version_id, None)
        reserve_parquet(session, SETTINGS, version_id, parquet)
        assert mark_ready(session, version_id, _outcome(parquet))
    return version_id


def _committed(catalog: Catalog) -> int:
    with catalog.session() as session:
        return committed_bytes(session, "alice", datetime.now(UTC))


def test_a_ready_version_counts_its_parquet_size_once_and_no_reservation(
    catalog: Catalog,
) -> None:
    version_id = _ready(catalog, raw=100, parquet=700)
    with catalog.session() as session:
        assert not mark_ready(session, version_id, _outcome(700))  # a second run counts nothing
        usage = stored_usage(session, "alice")
    assert (usage.used.datasets, usage.used.total, usage.trash.total) == (700, 700, 0)
    assert _committed(catalog) == 700


def test_the_parquet_reservation_replaces_the_raw_one_under_the_quota(catalog: Catalog) -> None:
    _, version_id = _confirmed(catalog, 100)
    assert _committed(catalog) == 100
    with catalog.session() as session:
        reserve_parquet(session, SETTINGS, version_id, 1500)
    assert _committed(catalog) == 1500  # the Parquet size replaces the raw reservation
    over = pytest.raises(QuotaExceededError, match="1,000 bytes")  # 1500 + 1000 > 2000
    with over, catalog.session() as session:
        reserve_upload(session, "alice", TINY, "b.csv", 1000, datetime.now(UTC))


def test_a_parquet_file_over_the_quota_is_refused_with_the_sizes(catalog: Catalog) -> None:
    _ready(catalog, raw=100, parquet=1200)
    _, version_id = _confirmed(catalog, 50)
    with pytest.raises(QuotaExceededError) as refused, catalog.session() as session:
        reserve_parquet(session, SETTINGS, version_id, 900)
    assert "is 900 bytes" in refused.value.message
    assert "store 2,100 bytes of your 2,000-byte quota" in refused.value.message
    assert _committed(catalog) == 1250  # unchanged: the raw reservation stays until it fails


def test_a_failed_versions_kept_upload_is_trash_until_purged(catalog: Catalog) -> None:
    _, version_id = _confirmed(catalog, 300)
    with catalog.session() as session:
        assert mark_failed(session, version_id, "bad content")
        usage = stored_usage(session, "alice")
    assert (usage.used.total, usage.trash.datasets) == (0, 300)
    assert _committed(catalog) == 300  # the reservation became the kept file
    with catalog.session() as session:
        [item] = purgeable_trash(session, "alice")
        assert item.location.startswith("uploads/temp/") and item.size_bytes == 300
        assert claim_kept_upload(session, item.key)
        upload = session.execute(sa.select(Upload)).scalar_one()
        assert upload.status == UploadStatus.PURGED
    assert _committed(catalog) == 0


def test_a_rerun_of_a_failed_version_charges_its_parquet_in_place_of_the_kept_upload(
    catalog: Catalog,
) -> None:
    """The kept raw file (300) is replaced by the Parquet file (2000, the whole quota): a re-run
    that fits is not refused for counting both."""
    _, version_id = _confirmed(catalog, 300)
    with catalog.session() as session:
        assert mark_failed(session, version_id, "the store was down")
    assert _committed(catalog) == 300
    with catalog.session() as session:
        assert mark_ingesting(session, version_id, None)
        reserve_parquet(session, SETTINGS, version_id, 2000)
        assert mark_ready(session, version_id, _outcome(2000))
        usage = stored_usage(session, "alice")
    assert (usage.used.datasets, usage.trash.total) == (2000, 0)
    assert _committed(catalog) == 2000


def test_a_delete_racing_a_rerun_of_a_failed_version_is_refused_whole(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete reads the version as failed; a re-run marks it ingesting and commits before
    the delete marks it deleted. Only PostgreSQL lets that happen (SQLite serializes writers:
    the delete's first UPDATE holds the write lock)."""
    if catalog.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serializes the two writers")
    dataset_id, version_id = _confirmed(catalog, 300)
    with catalog.session() as session:
        assert mark_failed(session, version_id, "the store was down")

    def rerun_starts_after_the_read(session: sa.orm.Session, of: str) -> list[DatasetVersion]:
        versions = versions_of(session, of)
        with catalog.session() as rerun:
            assert mark_ingesting(rerun, version_id, None)
        return versions

    monkeypatch.setattr("catalog.deletion.versions_of", rerun_starts_after_the_read)
    with pytest.raises(ConflictError, match="is still ingesting"), catalog.session() as session:
        mark_dataset_deleted(session, "alice", dataset_id)
    with catalog.session() as session:
        version = session.get(DatasetVersion, version_id)
        dataset = session.get(Dataset, dataset_id)
        assert version is not None and dataset is not None
        assert (version.status, version.deleted_at) == (VersionStatus.INGESTING, None)
        assert (dataset.status, dataset.deleted_at) == (DatasetStatus.ACTIVE, None)


def test_a_deleted_version_is_neither_reserved_nor_made_ready(catalog: Catalog) -> None:
    """Whatever let a run go on after the delete, it can record nothing live."""
    _, version_id = _confirmed(catalog, 300)
    with catalog.session() as session:
        assert mark_ingesting(session, version_id, None)
        session.execute(
            sa.update(DatasetVersion)
            .where(DatasetVersion.id == version_id)
            .values(deleted_at=datetime.now(UTC))
        )
    with pytest.raises(ConflictError, match="deleted"), catalog.session() as session:
        reserve_parquet(session, SETTINGS, version_id, 500)
    with pytest.raises(ConflictError, match="deleted"), catalog.session() as session:
        mark_ready(session, version_id, _outcome(500))
    with catalog.session() as session:
        assert stored_usage(session, "alice").used.total == 0


def test_a_missing_upload_is_not_counted_when_its_version_fails(catalog: Catalog) -> None:
    _, version_id = _confirmed(catalog, 300)
    with catalog.session() as session:
        mark_failed(session, version_id, "gone", upload_kept=False)
    assert _committed(catalog) == 0


def test_models_and_plots_count_once_and_a_redraw_replaces_a_plots_size(
    catalog: Catalog,
) -> None:
    version_id = _ready(catalog, raw=100, parquet=500)
    with catalog.session() as session:
        job = create_job(session, "alice", version_id, "y", "regression")
        model = {f"models/alice/{job.id}/model.joblib": 60, f"models/alice/{job.id}/m.json": 40}
        assert mark_succeeded(session, job.id, "regression", {}, model)
        assert not mark_succeeded(session, job.id, "regression", {}, model)
        assert mark_plots_rendered(session, job.id, {f"plots/{job.id}/a.png": 30})
        assert mark_plots_rendered(session, job.id, {f"plots/{job.id}/a.png": 35})
        usage = stored_usage(session, "alice")
    assert (usage.used.datasets, usage.used.models, usage.used.plots) == (500, 100, 35)
    assert _committed(catalog) == 635


def test_delete_is_recorded_then_finished_object_by_object(catalog: Catalog) -> None:
    first = _ready(catalog, raw=100, parquet=500)
    with catalog.session() as session:
        dataset_id = session.execute(sa.select(Dataset.id)).scalar_one()
        job = create_job(session, "alice", first, "y", "regression")
        mark_succeeded(session, job.id, "regression", {}, {f"models/alice/{job.id}/x": 50})
        job_id = job.id
    _, failed = _confirmed(catalog, 200, dataset_id)
    with catalog.session() as session:
        mark_failed(session, failed, "bad")
        assert mark_dataset_deleted(session, "alice", dataset_id) == 3
    with catalog.session() as session:
        assert session.get(Dataset, dataset_id).status == DatasetStatus.DELETING  # type: ignore[union-attr]
        assert unfinished_deletes(session) == [dataset_id]
        with pytest.raises(NotFoundError):
            users_job(session, "alice", job_id)  # the model reads as gone at once
        assert not mark_running(session, job_id, None)
        usage = stored_usage(session, "alice")
        assert (usage.used.total, usage.trash.total) == (0, 750)  # still stored: trash
        assert purgeable_trash(session, "alice") == []  # nothing moved yet
        keys = keys_to_move(session, dataset_id)
        assert len(keys) == 3
        record_moved(session, keys[0])
        assert not finish_if_moved(session, dataset_id)
    with catalog.session() as session:
        for key in keys[1:]:
            record_moved(session, key)
        assert finish_if_moved(session, dataset_id)
        assert session.get(Dataset, dataset_id).status == DatasetStatus.DELETED  # type: ignore[union-attr]
        assert unfinished_deletes(session) == []
        trash = purgeable_trash(session, "alice")
        assert {item.location for item in trash} == {f"deleted/{key}" for key in keys}
        for item in trash:
            assert forget_purged(session, item.key)
    assert _committed(catalog) == 0


def test_a_dataset_with_a_training_in_progress_cannot_be_deleted(catalog: Catalog) -> None:
    version_id = _ready(catalog, raw=100, parquet=500)
    with catalog.session() as session:
        dataset_id = session.execute(sa.select(Dataset.id)).scalar_one()
        create_job(session, "alice", version_id, "y", None)
    with pytest.raises(ConflictError, match="training job"), catalog.session() as session:
        mark_dataset_deleted(session, "alice", dataset_id)
    with catalog.session() as session:
        assert session.get(Dataset, dataset_id).status == DatasetStatus.ACTIVE  # type: ignore[union-attr]
        assert stored_usage(session, "alice").used.datasets == 500


def test_plots_drawn_after_the_delete_are_not_recorded(catalog: Catalog) -> None:
    version_id = _ready(catalog, raw=100, parquet=500)
    with catalog.session() as session:
        dataset_id = session.execute(sa.select(Dataset.id)).scalar_one()
        job = create_job(session, "alice", version_id, "y", "regression")
        mark_succeeded(session, job.id, "regression", {}, {})
        job_id = job.id
    with catalog.session() as session:
        mark_dataset_deleted(session, "alice", dataset_id)
    with catalog.session() as session:
        assert not mark_plots_rendered(session, job_id, {f"plots/{job_id}/a.png": 30})
        assert stored_usage(session, "alice").trash.plots == 0


def test_the_migration_carries_ready_and_failed_versions_into_the_ledger(
    database_url: str,
) -> None:
    from alembic import command

    from catalog.database import alembic_config

    command.upgrade(alembic_config(database_url), "0002")
    handle = Catalog(database_url)
    expires = datetime.now(UTC) + timedelta(hours=1)
    with handle.session() as session:
        session.execute(sa.insert(User).values(id="alice", tier="free", used_bytes=0))
        ready = create_upload(session, "alice", "a.csv", 10, expires)
        failed = create_upload(session, "alice", "b.csv", 20, expires)
        ready_id, failed_id = ready.id, failed.id
    with handle.engine.begin() as connection:  # the 0002 schema: no `status` on datasets yet
        connection.execute(
            sa.text("insert into datasets (id, user_id, name, created_at) values (:i, :u, :n, :t)"),
            {"i": "d1", "u": "alice", "n": "sales", "t": expires},
        )
        for vid, upload_id, status, size in (
            ("v1", ready_id, "ready", 700),
            ("v2", failed_id, "failed", None),
        ):
            connection.execute(
                sa.text(
                    "insert into dataset_versions (id, dataset_id, upload_id, status, parquet_key,"
                    " raw_size_bytes, size_bytes, created_at, updated_at) values "
                    "(:v, 'd1', :u, :s, :k, 1, :z, :t, :t)"
                ),
                {
                    "v": vid,
                    "u": upload_id,
                    "s": status,
                    "k": f"datasets/alice/d1/{vid}.parquet",
                    "z": size,
                    "t": expires,
                },
            )
        connection.execute(
            sa.text("update uploads set status = 'failed' where id = :u"), {"u": failed_id}
        )
    handle.dispose()
    migrate(database_url)
    handle = Catalog(database_url)
    with handle.session() as session:
        usage = stored_usage(session, "alice")
        assert (usage.used.datasets, usage.trash.datasets) == (700, 20)
        assert session.get(Dataset, "d1").status == DatasetStatus.ACTIVE  # type: ignore[union-attr]
    handle.dispose()


def test_the_jobs_of_a_dataset_deleted_before_the_ledger_read_as_deleted_after_upgrade(
    database_url: str,
) -> None:
    """A catalog at 0003 (installed before 0004 existed) holding a dataset deleted before 0003,
    with a job on it: the upgrade marks the job deleted with its dataset's time; the job of a
    live dataset stays."""
    from alembic import command

    from catalog.database import alembic_config

    command.upgrade(alembic_config(database_url), "0003")
    handle = Catalog(database_url)
    gone_at = datetime(2026, 1, 2, tzinfo=UTC)
    with handle.session() as session:
        # The 0003 schema: only the columns it has (the model's later ones are not there yet).
        session.execute(sa.insert(User).values(id="alice", tier="free", used_bytes=0))
        for dataset_id, deleted_at in (("gone", gone_at), ("kept", None)):
            upload = create_upload(session, "alice", "a.csv", 10, gone_at)
            version = create_version(session, upload.id, dataset_id, None)
            dataset = session.get(Dataset, version.dataset_id)
            assert dataset is not None
            dataset.deleted_at = deleted_at
            if deleted_at is not None:
                dataset.status = DatasetStatus.DELETED
                version.deleted_at = deleted_at
            create_job(session, "alice", version.id, "y", None)
    handle.dispose()
    migrate(database_url)
    handle = Catalog(database_url)
    with handle.session() as session:
        rows = session.execute(
            sa.select(Dataset.name, Job.deleted_at)
            .join(DatasetVersion, DatasetVersion.id == Job.version_id)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        ).all()
    handle.dispose()
    deleted = {name: at.replace(tzinfo=UTC) if at else None for name, at in rows}
    assert deleted == {"gone": gone_at, "kept": None}


def test_parallel_parquet_checks_at_the_quotas_edge_never_overshoot(catalog: Catalog) -> None:
    versions = [_confirmed(catalog, 10)[1] for _ in range(6)]

    def reserve(version_id: str) -> bool:
        try:
            with catalog.session() as session:
                reserve_parquet(session, SETTINGS, version_id, 600)
        except QuotaExceededError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=6) as pool:
        fitted = sum(pool.map(reserve, versions))
    # k of them fit while 600 * k + 10 * (6 - k) <= 2000: exactly 3, whatever the order.
    assert fitted == 3
    assert _committed(catalog) == 3 * 600 + 3 * 10
