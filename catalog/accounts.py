"""Users and API tokens: tokens are shown once and stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.tables import ApiToken, User, utcnow
from core.errors import ConflictError
from core.keys import check_key_part, new_id
from core.settings import Settings

TOKEN_PREFIX = "aml_"


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, settings: Settings, user_id: str, tier: str) -> str:
    """Creates the user if new (or checks its tier) and returns a new token, in clear, once."""
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
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(id=new_id(), user_id=user_id, token_hash=hash_token(token)))
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The user a live token belongs to, or None (unknown or revoked)."""
    row = session.execute(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    return row


def revoke_token(session: Session, token: str) -> bool:
    """Revokes a token; True if it was live."""
    record = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = utcnow()
    return True
