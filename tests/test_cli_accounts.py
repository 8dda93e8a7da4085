"""`automl token list/revoke`, `--expires-in`, `automl user disable`, and tokens read from the
environment or stdin instead of the command line."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import typer

from catalog.accounts import user_for_token
from catalog.database import catalog_for
from cli_accounts import parse_duration
from core.settings import get_settings
from stack_process import AUTOML
from tests.support.cli import assert_one_line_error, run
from tests.support.ports import free_port

# e2e: the token and user commands, run as subprocesses: processes of its own.
pytestmark = pytest.mark.e2e


def _create(user: str, *extra: str) -> str:
    result = run("token", "create", "--user", user, "--tier", "free", *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _live(token: str) -> bool:
    with catalog_for(get_settings().catalog_url).session() as session:
        return user_for_token(session, token) is not None


def _with_stdin(
    *args: str, stdin: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUTOML, *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_token_list_shows_each_token_but_never_the_token_itself() -> None:
    alice = _create("alice", "--expires-in", "30d")
    bob = _create("bob")
    result = run("token", "list")
    assert result.returncode == 0, result.stderr
    assert alice not in result.stdout and bob not in result.stdout
    rows = [line for line in result.stdout.splitlines() if "alice" in line or "bob" in line]
    assert len(rows) == 2
    assert alice[:8] in rows[0] and "live" in rows[0]
    assert bob[:8] in rows[1] and "live" in rows[1]
    # alice's token expires in 30 days: its row names a date, bob's says "-"
    assert rows[0].count("UTC") == 2 and rows[1].count("UTC") == 1
    only_bob = run("token", "list", "--user", "bob")
    assert "bob" in only_bob.stdout and "alice" not in only_bob.stdout


def test_token_revoke_by_id_and_by_the_token_on_stdin() -> None:
    first = _create("alice")
    second = _create("alice")
    listing = run("token", "list").stdout
    first_id = next(
        line.split("│")[1].strip() for line in listing.splitlines() if first[:8] in line
    )
    assert run("token", "revoke", first_id).returncode == 0
    assert not _live(first) and _live(second)
    assert "revoked" in run("token", "list").stdout
    again = run("token", "revoke", first_id)
    assert again.returncode == 0 and "already revoked" in again.stdout
    by_token = _with_stdin("token", "revoke", "--token", "-", stdin=second + "\n")
    assert by_token.returncode == 0, by_token.stderr
    assert second not in by_token.stdout + by_token.stderr
    assert not _live(second)
    assert_one_line_error(run("token", "revoke", "no-such-id"), "no token 'no-such-id'")
    assert_one_line_error(run("token", "revoke"), "name the token to revoke")


def test_user_disable_refuses_every_token_of_the_user() -> None:
    tokens = [_create("carol"), _create("carol")]
    other = _create("dave")
    result = run("user", "disable", "carol")
    assert result.returncode == 0 and "disabled" in result.stdout
    assert not any(_live(token) for token in tokens) and _live(other)
    assert "user disabled" in run("token", "list", "--user", "carol").stdout
    refused = run("token", "create", "--user", "carol", "--tier", "free")
    assert_one_line_error(refused, "disabled")
    assert_one_line_error(run("user", "disable", "nobody"), "no user 'nobody'")


def test_a_bad_expiry_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    result = run("token", "create", "--user", "erin", "--tier", "free", "--expires-in", "soon")
    assert result.returncode == 2 and "30d" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (Path(os.environ["AUTOML_DATA_DIR"]) / "catalog.db").exists()


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("45m", timedelta(minutes=45)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_durations_read_as_a_number_and_a_unit(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["0d", "30", "d", "1y", "-1d", "1.5h", "999999d"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration(text)


def test_commands_read_the_token_from_stdin_or_the_environment() -> None:
    """`--token -` reads the token from stdin, AUTOML_TOKEN from the environment: either gets
    the demo past its token check to the (unreachable) API; empty stdin is refused."""
    url = f"http://127.0.0.1:{free_port()}"
    piped = _with_stdin("demo", "--api", url, "--token", "-", stdin="aml_from-stdin\n")
    assert_one_line_error(piped, "cannot be reached")
    from_env = run("demo", "--api", url, env={"AUTOML_TOKEN": "aml_from-env"})
    assert_one_line_error(from_env, "cannot be reached")
    empty = _with_stdin("upload", __file__, "--name", "x", "--api", url, "--token", "-", stdin="")
    assert_one_line_error(empty, "stdin gave none")
