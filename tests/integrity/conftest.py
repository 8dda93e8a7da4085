"""fsck fixtures: the API over a fresh bucket of each store kind, on each catalog database, with
the deployments its confirm and train start registered (nothing serves them: the tests run the
flows themselves), and a PostgreSQL catalog that sorts text by language, not by bytes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from core.settings import get_settings
from tests.support.api_client import Api, make_api
from tests.support.stored_state import StoredState, stored_state
from tests.support.stores import Store


@pytest.fixture
def api(
    bucket: Store,
    database_url: str,
    ingest_deployment: str,
    train_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    """The API over `bucket` with its catalog on `database_url` (SQLite, PostgreSQL)."""
    monkeypatch.setenv("AUTOML_DATABASE_URL", database_url)
    monkeypatch.setenv("AUTOML_TRAINING_BUDGET_SECONDS", "2")
    get_settings.cache_clear()
    yield from make_api(bucket)


@pytest.fixture
def state(bucket: Store) -> Iterator[StoredState]:
    """A bucket of each store kind and a SQLite catalog that agree, to tamper with."""
    with stored_state(bucket) as made:
        yield made


@pytest.fixture
def state_on_each_database(
    bucket: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StoredState]:
    """The same on each catalog database (SQLite, PostgreSQL)."""
    monkeypatch.setenv("AUTOML_DATABASE_URL", database_url)
    get_settings.cache_clear()
    with stored_state(bucket) as made:
        yield made


@pytest.fixture
def language_collated_database(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A PostgreSQL catalog whose text sorts by language (ICU en-US: "alice" before "Bob"),
    not by bytes as S3 lists keys ("Bob" before "alice")."""
    server_url: str = request.getfixturevalue("postgres_server")
    name = f"automl_icu_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            sa.text(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    with engine.connect() as connection:  # the premise: this database does not sort by bytes
        assert connection.execute(sa.text("SELECT 'alice' < 'Bob'")).scalar_one() is True
    engine.dispose()
    monkeypatch.setenv("AUTOML_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
