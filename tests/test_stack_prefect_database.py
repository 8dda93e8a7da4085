"""`automl up` runs its Prefect server on the database of AUTOML_PREFECT_DATABASE_URL (PostgreSQL
in production: on SQLite the server refuses concurrent writes, docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from core.settings import get_settings
from stack import prefect_server
from tests.support.ports import free_port
from tests.support.production import postgres_database


@pytest.mark.e2e  # a Prefect server and a PostgreSQL database of its own
def test_up_runs_its_prefect_server_on_the_configured_database(
    tmp_path: Path, postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgres_database(postgres_server, "asyncpg") as prefect_database:
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        monkeypatch.setenv("AUTOML_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("AUTOML_PREFECT_PORT", str(free_port()))
        monkeypatch.setenv("AUTOML_PREFECT_DATABASE_URL", prefect_database)
        get_settings.cache_clear()
        try:
            with prefect_server(get_settings()) as (api_url, _ui_url):
                created = httpx.post(f"{api_url}/flows/", json={"name": "on-postgres"})
                assert created.status_code in (200, 201), created.text
        finally:
            get_settings.cache_clear()
        engine = sa.create_engine(
            sa.engine.make_url(prefect_database).set(drivername="postgresql+psycopg")
        )
        try:
            with engine.connect() as connection:
                names = connection.execute(sa.text("select name from flow")).scalars().all()
        finally:
            engine.dispose()
        assert names == ["on-postgres"]
        assert not list((tmp_path / "prefect").glob("*.db"))  # no SQLite database beside it
