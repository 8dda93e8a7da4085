"""The `automl` command: help everywhere, one-line errors, tokens printed once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.cli import assert_one_line_error, run

# e2e: the `automl` command, run as a subprocess as a user runs it: processes of its own.
pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["up"],
        ["demo"],
        ["setup-storage"],
        ["fsck"],
        ["token"],
        ["token", "create"],
        ["upload"],
        ["token", "list"],
        ["token", "revoke"],
        ["user"],
        ["user", "disable"],
        ["datasets"],
        ["datasets", "list"],
        ["datasets", "show"],
        ["datasets", "download"],
        ["datasets", "delete"],
        ["usage"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_token_create_prints_a_token_once_and_stores_its_hash(tmp_path: Path) -> None:
    result = run("token", "create", "--user", "alice", "--tier", "pro")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("aml_") and "\n" not in token
    database = Path(os.environ["AUTOML_DATA_DIR"]) / "catalog.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("select user_id, token_hash from api_tokens")).all()
    engine.dispose()
    assert len(rows) == 1 and rows[0][0] == "alice"
    assert rows[0][1] == hashlib.sha256(token.encode()).hexdigest()


def test_an_unknown_tier_is_a_one_line_error() -> None:
    result = run("token", "create", "--user", "alice", "--tier", "gold")
    assert_one_line_error(result, "unknown tier 'gold'")


def test_an_unsafe_user_id_is_a_one_line_error() -> None:
    result = run("token", "create", "--user", "../../etc", "--tier", "free")
    assert_one_line_error(result, "user id")


def test_a_bad_setting_is_a_one_line_error_naming_the_variable() -> None:
    result = run(
        "token",
        "create",
        "--user",
        "a",
        "--tier",
        "free",
        env={"AUTOML_PRESIGN_EXPIRES_SECONDS": "700000"},
    )
    assert_one_line_error(result, "AUTOML_PRESIGN_EXPIRES_SECONDS")


def test_a_missing_option_is_an_error_without_traceback() -> None:
    result = run("token", "create", "--tier", "free")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--user" in result.stderr


def test_setup_storage_needs_a_configured_store() -> None:
    result = run("setup-storage")
    assert_one_line_error(result, "R2_ENDPOINT is not set")
