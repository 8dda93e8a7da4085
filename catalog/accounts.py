"""Users and API tokens: tokens are shown once and stored only as a SHA-256 hash; each may
expire or be revoked, and a disabled user's tokens all stop working."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.tables import ApiToken, User, utcnow
from catalog.verified_tokens import verified_tokens
from core.errors import ConflictError, NotFoundError, UnauthenticatedError
from core.keys import check_key_part, new_id
from core.settings import Settings

TOKEN_PREFIX = "aml_"
# Characters of a token kept in clear to tell tokens apart: "aml_" and 4 of its 43 random ones.
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 4


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    settings: Settings,
    user_id: str,
    tier: str,
    expires_in: timedelta | None = None,
) -> str:
    """Creates the user if new (or checks its tier) and returns a new token, in clear, once.
    With `expires_in`, the token stops working that long from now. A disabled user gets no
    new token."""
    check_key_part(user_id, "user id")  # user ids become part of bucket keys
    settings.tier(tier)  # raises on an unknown tier
    user = session.get(User, user_id)
    if user is None:
        session.add(User(id=user_id, tier=tier))
        session.flush()  # the token row refers to it
    elif user.tier != tier:
        raise ConflictError(
            f"user {user_id!r} already exists with tier {user.tier!r}, not {tier!r}"
        )
    elif user.disabled_at is not None:
        raise ConflictError(f"user {user_id!r} is disabled; it gets no new token")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            id=new_id(),
            user_id=user_id,
            token_hash=hash_token(token),
            expires_at=utcnow() + expires_in if expires_in is not None else None,
            token_prefix=token[:SHOWN_PREFIX_LENGTH],
        )
    )
    return token


def authenticate(session: Session, token: str, now: datetime | None = None) -> User:
    """The user a live token belongs to. Refuses (401) a token that is unknown, revoked or
    expired, or whose user is disabled, saying which: only someone who holds the token reads
    that."""
    return live_token(session, token, now)[1]


def live_token(session: Session, token: str, now: datetime | None = None) -> tuple[ApiToken, User]:
    """`authenticate`, with the token's record (its expiry)."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).one_or_none()
    if row is None:
        raise UnauthenticatedError("the API token is unknown")
    record, user = row
    if record.revoked_at is not None:
        raise UnauthenticatedError("the API token was revoked")
    if record.expires_at is not None and record.expires_at <= (now or utcnow()):
        raise UnauthenticatedError("the API token has expired; ask for a new one")
    if user.disabled_at is not None:
        raise UnauthenticatedError("the user of this API token is disabled")
    return record, user


def user_for_token(session: Session, token: str) -> User | None:
    """The user a live token belongs to, or None (unknown, revoked, expired or disabled)."""
    try:
        return authenticate(session, token)
    except UnauthenticatedError:
        return None


def revoke_token(session: Session, token: str) -> bool:
    """Revokes a token; True if it was live."""
    record = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = utcnow()
    verified_tokens.forget_all_now_and_after_commit(session)
    return True


def revoke_token_by_id(session: Session, token_id: str) -> bool:
    """Revokes the token of that id (as `automl token list` shows it); True if it was not
    revoked before, False if it was. Unknown: NotFoundError."""
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFoundError(f"no token {token_id!r} (see `automl token list`)")
    if record.revoked_at is not None:
        return False
    record.revoked_at = utcnow()
    verified_tokens.forget_all_now_and_after_commit(session)
    return True


@dataclass(frozen=True)
class TokenListing:
    """What `automl token list` shows of a token: never the token, nor its hash."""

    id: str
    prefix: str | None
    user_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    user_disabled_at: datetime | None


def list_tokens(session: Session, user_id: str | None = None) -> list[TokenListing]:
    """Every token (or the tokens of `user_id`), oldest first."""
    statement = (
        select(ApiToken, User.disabled_at)
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    if user_id is not None:
        statement = statement.where(ApiToken.user_id == user_id)
    return [
        TokenListing(
            id=record.id,
            prefix=record.token_prefix,
            user_id=record.user_id,
            created_at=record.created_at,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            user_disabled_at=disabled_at,
        )
        for record, disabled_at in session.execute(statement).all()
    ]


def disable_user(session: Session, user_id: str) -> bool:
    """Disables the user: every token of theirs is refused from now on, and none is created.
    Their data stays. True if they were enabled before; unknown user: NotFoundError."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id!r}")
    if user.disabled_at is not None:
        return False
    user.disabled_at = utcnow()
    verified_tokens.forget_all_now_and_after_commit(session)
    return True
