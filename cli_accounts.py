"""`automl token` and `automl user`: API tokens created, listed and revoked, users disabled;
and how every command that takes a token reads it (the environment or stdin, not the shell
history)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from getpass import getpass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli_errors import fail, load_settings_or_fail
from core.errors import AutomlError
from core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
user_app = typer.Typer(help="Users: disable.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)

# What `--token -` reads: one line of stdin (a pipe, a file), or typed without echo.
STDIN_TOKEN = "-"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# An expiry past this is a typo more likely than a wish (100 years).
MAX_EXPIRES_IN = timedelta(days=36_500)


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `45m`, `2w`, `90s`: a positive whole number and one unit."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 30d, 12h, 45m, 2w or 90s")
    duration = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if duration > MAX_EXPIRES_IN:
        raise typer.BadParameter(f"{text!r} is more than 100 years")
    return duration


def token_option_value(given: str | None, settings: Settings) -> str | None:
    """The token a command was given: `-` reads it from stdin (so it is not in the shell
    history), any other value is the token itself, and none falls back to AUTOML_TOKEN."""
    if given == STDIN_TOKEN:
        # Typed at a terminal: asked for without echo; piped: one line.
        line = (getpass("API token: ") if sys.stdin.isatty() else sys.stdin.readline()).strip()
        if not line:
            fail("--token - reads the token from stdin, and stdin gave none")
        return line
    if given:
        return given
    return settings.token.get_secret_value() if settings.token else None


def api_url_and_token(api: str | None, token: str | None) -> tuple[str, str]:
    """The API and token a client command talks with: the options given, else AUTOML_API_URL
    and AUTOML_TOKEN; a missing one is one line saying how to give it."""
    settings = load_settings_or_fail()
    api_url = api or (str(settings.api_url) if settings.api_url else None)
    api_token = token_option_value(token, settings)
    if not api_url:
        fail("no API given: pass --api or set AUTOML_API_URL (see endpoints.json)")
    if not api_token:
        fail("no token given: set AUTOML_TOKEN or pass --token - (`automl token create`)")
    return api_url, api_token


@contextmanager
def _catalog_session(settings: Settings) -> Iterator[Session]:
    """A transaction on the migrated catalog of these settings; the engine is closed after."""
    from catalog.database import Catalog, migrate

    migrate(settings.catalog_url)
    catalog = Catalog(settings.catalog_url)
    try:
        with catalog.session() as session:
            yield session
    finally:
        catalog.dispose()


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="User id (letters, digits, - _ .)")],
    tier: Annotated[str, typer.Option("--tier", help="Tier name, e.g. free, pro, enterprise")],
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in", help="The token stops working after this long: 30d, 12h, 45m, 2w"
        ),
    ] = None,
) -> None:
    """Create an API token for a user; it is printed once and stored only as a hash."""
    from catalog.accounts import create_token

    lifetime = parse_duration(expires_in) if expires_in is not None else None
    settings = load_settings_or_fail()
    try:
        settings.tier(tier)
        with _catalog_session(settings) as session:
            token = create_token(session, settings, user, tier, lifetime)
    except AutomlError as exc:
        fail(exc.message)
    until = f", expires in {expires_in}" if expires_in else ""
    errors.print(
        f"token for user {user!r} ({tier}{until}); shown once, keep it safe:", highlight=False
    )
    print(token)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"


@token_app.command("list")
def token_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens")] = None,
) -> None:
    """List tokens: id, first characters, user, created, expires, revoked, and the state they
    are in. Never the token itself (only its hash is stored)."""
    from catalog.accounts import list_tokens
    from catalog.tables import utcnow

    settings = load_settings_or_fail()
    try:
        with _catalog_session(settings) as session:
            tokens = list_tokens(session, user)
    except AutomlError as exc:
        fail(exc.message)
    now = utcnow()
    table = Table("id", "prefix", "user", "created", "expires", "revoked", "state")
    for column in table.columns:
        column.no_wrap = True  # an id cut or folded could not be pasted into `token revoke`
    for token in tokens:
        if token.revoked_at is not None:
            state = "revoked"
        elif token.expires_at is not None and token.expires_at <= now:
            state = "expired"
        elif token.user_disabled_at is not None:
            state = "user disabled"
        else:
            state = "live"
        table.add_row(
            token.id,
            f"{token.prefix}…" if token.prefix else "-",
            token.user_id,
            _when(token.created_at),
            _when(token.expires_at),
            _when(token.revoked_at),
            state,
        )
    # Piped (grep, a script): every row on one line whatever the terminal's width.
    (console if console.is_terminal else Console(width=240)).print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[
        str | None, typer.Argument(help="The token's id, as `automl token list` shows it")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Revoke by the token itself; `-` reads it from stdin"),
    ] = None,
) -> None:
    """Revoke a token: every request with it is refused (401) from now on."""
    from catalog.accounts import revoke_token, revoke_token_by_id

    if (token_id is None) == (token is None):
        fail("name the token to revoke: its id (`automl token list`), or --token -")
    settings = load_settings_or_fail()
    secret = token_option_value(token, settings) if token is not None else None
    try:
        with _catalog_session(settings) as session:
            if secret is not None:
                revoked = revoke_token(session, secret)
                if not revoked:
                    fail("no live token matches the one given", code=1)
            else:
                assert token_id is not None
                revoked = revoke_token_by_id(session, token_id)
    except AutomlError as exc:
        fail(exc.message, code=1)
    console.print("revoked" if revoked else "already revoked", highlight=False)


@user_app.command("disable")
def user_disable(
    user: Annotated[str, typer.Argument(help="The user id")],
) -> None:
    """Disable a user: every token of theirs is refused (401) from now on and no new one is
    created. Their datasets and models stay."""
    from catalog.accounts import disable_user

    settings = load_settings_or_fail()
    try:
        with _catalog_session(settings) as session:
            changed = disable_user(session, user)
    except AutomlError as exc:
        fail(exc.message, code=1)
    console.print(
        f"user {user!r} disabled" if changed else f"user {user!r} was already disabled",
        highlight=False,
    )
