"""The catalog on SQLite and PostgreSQL: migrations, status columns, users and hashed tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from catalog.accounts import (
    authenticate,
    create_token,
    disable_user,
    hash_token,
    list_tokens,
    revoke_token,
    revoke_token_by_id,
    user_for_token,
)
from catalog.database import Catalog, migrate
from catalog.datasets import create_version
from catalog.jobs import create_job
from catalog.tables import Base, DatasetVersion, Job, Upload, User
from core.errors import (
    ConfigurationError,
    ConflictError,
    InvalidKeyPartError,
    NotFoundError,
    UnauthenticatedError,
)
from core.settings import load_settings
from core.statuses import JobStatus, UploadStatus, VersionStatus

TABLES = {
    "users",
    "api_tokens",
    "uploads",
    "datasets",
    "dataset_versions",
    "jobs",
    "stored_objects",
}


def test_migrations_create_every_table_and_can_run_again(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)
    engine = sa.create_engine(database_url)
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) >= TABLES
    with engine.connect() as connection:
        assert (
            connection.execute(sa.text("select version_num from alembic_version")).scalar()
            == "0007"
        )
    upload_columns = {column["name"] for column in inspector.get_columns("uploads")}
    assert {"reserved_bytes", "expires_at", "multipart_upload_id", "status"} <= upload_columns
    version_indexes = {index["name"] for index in inspector.get_indexes("dataset_versions")}
    assert "ix_dataset_versions_awaiting_run" in version_indexes
    upload_indexes = {index["name"] for index in inspector.get_indexes("uploads")}
    assert "ix_uploads_user_reservations" in upload_indexes
    assert "ix_uploads_user_status" not in upload_indexes  # replaced, not kept beside it
    engine.dispose()


def test_the_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def _add_upload(catalog: Catalog, upload_id: str, status: str) -> None:
    with catalog.session() as session:
        if session.get(User, "alice") is None:
            session.add(User(id="alice", tier="free"))
            session.flush()
        session.add(
            Upload(
                id=upload_id,
                user_id="alice",
                filename="a.csv",
                extension="csv",
                temp_key=f"uploads/temp/{upload_id}.csv",
                size_bytes=1,
                reserved_bytes=1,
                status=status,
                expires_at=datetime.now(UTC),
            )
        )


def test_statuses_are_stored_as_their_strings_and_read_as_members(catalog: Catalog) -> None:
    _add_upload(catalog, "u1", UploadStatus.PENDING)
    _add_upload(catalog, "u2", "rejected")  # a plain string of a known status is accepted
    with catalog.session() as session:
        version = create_version(session, "u1", "sales")  # u1 becomes confirmed
        create_job(session, "alice", version.id, "y", None)
    with catalog.engine.connect() as connection:
        uploads = connection.execute(sa.text("select id, status from uploads order by id")).all()
        version_status = connection.execute(sa.text("select status from dataset_versions"))
        job_status = connection.execute(sa.text("select status from jobs"))
        assert [tuple(row) for row in uploads] == [("u1", "confirmed"), ("u2", "rejected")]
        assert (version_status.scalar_one(), job_status.scalar_one()) == ("pending", "pending")
    with catalog.session() as session:
        read = session.execute(sa.select(Upload.status).order_by(Upload.id)).scalars().all()
        assert read == [UploadStatus.CONFIRMED, UploadStatus.REJECTED]
        assert all(type(status) is UploadStatus for status in read)
        rejected = sa.select(Upload.id).where(Upload.status == UploadStatus.REJECTED)
        assert session.execute(rejected).scalar_one() == "u2"
        unfinished = sa.select(DatasetVersion.id).where(
            DatasetVersion.status.in_([VersionStatus.PENDING, VersionStatus.INGESTING])
        )
        assert session.execute(unfinished).scalar_one() == version.id
        job = session.execute(sa.select(Job)).scalar_one()
        assert job.status is JobStatus.PENDING


def test_a_status_its_enum_does_not_name_is_refused_on_write(catalog: Catalog) -> None:
    with pytest.raises(sa.exc.StatementError, match="succeeded"):
        _add_upload(catalog, "u1", "succeeded")  # a job's word, not an upload's
    with catalog.engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from uploads")).scalar_one() == 0


def test_a_token_is_returned_once_and_only_its_hash_is_stored(catalog: Catalog) -> None:
    with catalog.session() as session:
        token = create_token(session, load_settings(), "alice", "pro")
    assert token.startswith("aml_") and len(token) > 40
    with catalog.engine.connect() as connection:
        stored = connection.execute(sa.text("select token_hash from api_tokens")).scalars().all()
        dump = " ".join(
            str(row) for row in connection.execute(sa.text("select * from api_tokens")).all()
        )
    assert stored == [hash_token(token)]
    assert token not in dump


def test_a_token_maps_to_its_user_and_tier(catalog: Catalog) -> None:
    with catalog.session() as session:
        alice = create_token(session, load_settings(), "alice", "pro")
        bob = create_token(session, load_settings(), "bob", "free")
    with catalog.session() as session:
        user = user_for_token(session, alice)
        assert user is not None and (user.id, user.tier) == ("alice", "pro")
        other = user_for_token(session, bob)
        assert other is not None and other.id == "bob"
        assert user_for_token(session, "aml_unknown") is None
        assert user_for_token(session, alice + "x") is None


def test_a_user_can_hold_several_tokens_and_revoked_ones_stop_working(catalog: Catalog) -> None:
    with catalog.session() as session:
        first = create_token(session, load_settings(), "carol", "free")
        second = create_token(session, load_settings(), "carol", "free")
    with catalog.session() as session:
        assert revoke_token(session, first) is True
        assert revoke_token(session, first) is False
    with catalog.session() as session:
        assert user_for_token(session, first) is None
        assert user_for_token(session, second) is not None


def test_bad_token_requests_change_nothing(catalog: Catalog) -> None:
    with catalog.session() as session:
        create_token(session, load_settings(), "dave", "free")
    with pytest.raises(ConfigurationError, match="unknown tier"), catalog.session() as session:
        create_token(session, load_settings(), "erin", "gold")
    with pytest.raises(ConflictError, match="tier 'free'"), catalog.session() as session:
        create_token(session, load_settings(), "dave", "pro")
    with pytest.raises(InvalidKeyPartError), catalog.session() as session:
        create_token(session, load_settings(), "../etc", "free")
    with catalog.engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from api_tokens")).scalar() == 1
        assert connection.execute(sa.text("select id from users")).scalars().all() == ["dave"]


def test_a_token_with_an_expiry_works_until_then_and_is_refused_after(catalog: Catalog) -> None:
    with catalog.session() as session:
        token = create_token(session, load_settings(), "alice", "free", timedelta(hours=12))
        forever = create_token(session, load_settings(), "alice", "free")
    now = datetime.now(UTC)
    with catalog.session() as session:
        assert authenticate(session, token, now + timedelta(hours=11)).id == "alice"
        with pytest.raises(UnauthenticatedError, match="expired"):
            authenticate(session, token, now + timedelta(hours=12, seconds=1))
        assert authenticate(session, forever, now + timedelta(days=3650)).id == "alice"


def test_each_refusal_says_why_and_is_a_401(catalog: Catalog) -> None:
    with catalog.session() as session:
        revoked = create_token(session, load_settings(), "alice", "free")
        disabled = create_token(session, load_settings(), "bob", "free")
        revoke_token(session, revoked)
        assert disable_user(session, "bob") is True
        assert disable_user(session, "bob") is False
    with catalog.session() as session:
        for token, reason in (
            (revoked, "revoked"),
            (disabled, "disabled"),
            ("aml_unknown", "unknown"),
        ):
            with pytest.raises(UnauthenticatedError, match=reason) as refused:
                authenticate(session, token)
            assert refused.value.http_status == 401
            assert user_for_token(session, token) is None


def test_a_disabled_user_gets_no_new_token_and_keeps_their_records(catalog: Catalog) -> None:
    with catalog.session() as session:
        create_token(session, load_settings(), "carol", "pro")
        disable_user(session, "carol")
    with pytest.raises(ConflictError, match="disabled"), catalog.session() as session:
        create_token(session, load_settings(), "carol", "pro")
    with catalog.session() as session:
        user = session.get(User, "carol")
        assert user is not None and user.disabled_at is not None
        assert len(list_tokens(session, "carol")) == 1
    with pytest.raises(NotFoundError), catalog.session() as session:
        disable_user(session, "nobody")


def test_tokens_are_listed_by_id_and_prefix_and_revoked_by_id(catalog: Catalog) -> None:
    with catalog.session() as session:
        first = create_token(session, load_settings(), "alice", "free", timedelta(days=30))
        second = create_token(session, load_settings(), "bob", "free")
    with catalog.session() as session:
        listed = list_tokens(session)
        assert [t.user_id for t in listed] == ["alice", "bob"]
        assert [t.prefix for t in listed] == [first[:8], second[:8]]
        assert listed[0].expires_at is not None and listed[1].expires_at is None
        assert all(t.revoked_at is None for t in listed)
        assert first not in repr(listed) and second not in repr(listed)
        assert [t.user_id for t in list_tokens(session, "bob")] == ["bob"]
        assert revoke_token_by_id(session, listed[0].id) is True
        assert revoke_token_by_id(session, listed[0].id) is False
        with pytest.raises(NotFoundError):
            revoke_token_by_id(session, "no-such-id")
    with catalog.session() as session:
        assert user_for_token(session, first) is None
        assert user_for_token(session, second) is not None
        assert list_tokens(session, "alice")[0].revoked_at is not None


def test_the_upgrade_to_0005_keeps_every_token_and_user_as_it_was(database_url: str) -> None:
    """A catalog at 0004 with a live and a revoked token: after the upgrade the live one still
    works (no expiry, its user enabled), the revoked one is still refused."""
    from alembic import command

    from catalog.database import alembic_config

    command.upgrade(alembic_config(database_url), "0004")
    live, revoked = "aml_" + "a" * 43, "aml_" + "b" * 43
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:  # the 0004 schema: no expiry, prefix or disabled_at
        connection.execute(
            sa.text("insert into users (id, tier, used_bytes, created_at) values (:i, :t, 0, :c)"),
            {"i": "alice", "t": "free", "c": datetime.now(UTC)},
        )
        for token_id, token, revoked_at in (("t1", live, None), ("t2", revoked, datetime.now(UTC))):
            connection.execute(
                sa.text(
                    "insert into api_tokens (id, user_id, token_hash, created_at, revoked_at) "
                    "values (:i, 'alice', :h, :c, :r)"
                ),
                {"i": token_id, "h": hash_token(token), "c": datetime.now(UTC), "r": revoked_at},
            )
    engine.dispose()
    migrate(database_url)
    handle = Catalog(database_url)
    with handle.session() as session:
        assert authenticate(session, live).id == "alice"
        with pytest.raises(UnauthenticatedError, match="revoked"):
            authenticate(session, revoked)
        listed = list_tokens(session)
        assert [(t.id, t.prefix, t.expires_at) for t in listed] == [
            ("t1", None, None),
            ("t2", None, None),
        ]
    handle.dispose()
