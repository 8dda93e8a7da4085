"""The ledger of stored objects and what a user stores: recording objects with their sizes,
the sums the quota and `GET /api/usage` read, and the user's lock those checks take."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ScalarSelect, Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from catalog.tables import StoredObject, User
from core.errors import NotFoundError
from core.statuses import ObjectState, UsageCategory

_USERS = cast("Table", User.__table__)
# Built once, on the table (Core): the ORM's bulk-update path and the statement's construction
# cost more than the UPDATE, which every upload-url and confirm runs under the user's lock.
_LOCK_USER = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("locked_user_id"))
    .values(used_bytes=_USERS.c.used_bytes)
)


# The same lock as a WITH clause, for a statement that takes it and goes on in one round trip
# (catalog/uploads.py, `reserve_upload_at_once`): the user's id when the row exists.
LOCKED_USER = _LOCK_USER.returning(_USERS.c.id).cte("locked_user")


def lock_user(session: Session, user_id: str) -> None:
    """Serializes the user's checks-then-inserts (the quota, the limits of work in flight) with
    a no-op UPDATE of their row: a row lock on PostgreSQL, the database write lock on SQLite.
    Reads after it see every commit of the transactions it waited for."""
    session.flush()  # as the ORM's autoflush did: pending writes go first
    result = session.connection().execute(_LOCK_USER, {"locked_user_id": user_id})
    if result.rowcount != 1:
        raise NotFoundError(f"no user {user_id}")


def record_object(
    session: Session,
    *,
    key: str,
    user_id: str,
    dataset_id: str,
    category: UsageCategory,
    size_bytes: int,
    state: ObjectState = ObjectState.LIVE,
    upload_id: str | None = None,
    job_id: str | None = None,
) -> None:
    """Records (or, for a key written again such as a redrawn plot, updates) one stored object.
    Called in the transaction of the state change that made the object the user's."""
    row = session.get(StoredObject, key)
    if row is None:
        session.add(
            StoredObject(
                key=key,
                user_id=user_id,
                dataset_id=dataset_id,
                category=category,
                state=state,
                size_bytes=size_bytes,
                upload_id=upload_id,
                job_id=job_id,
            )
        )
    else:
        row.size_bytes = size_bytes
        row.state = state
    session.flush()


def forget_object(session: Session, key: str, state: ObjectState | None = None) -> bool:
    """Removes the row of an object that is no longer stored (purged, or its temp copy became a
    version); with `state`, only while it is in that state. False if there was none."""
    statement = delete(StoredObject).where(StoredObject.key == key)
    if state is not None:
        statement = statement.where(StoredObject.state == state)
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def stored_sum(user_id: Any) -> ScalarSelect[Any]:
    """`stored_bytes` as a subquery (of a user id or a bind parameter), for a statement that
    reads more in the same round trip."""
    return (
        select(func.coalesce(func.sum(StoredObject.size_bytes), 0))
        .where(StoredObject.user_id == user_id)
        .scalar_subquery()
    )


def stored_bytes(session: Session, user_id: str) -> int:
    """Every byte kept for the user, in use or in trash, until purged."""
    return int(session.execute(select(stored_sum(user_id))).scalar_one())


@dataclass
class CategoryBytes:
    datasets: int = 0
    models: int = 0
    plots: int = 0

    @property
    def total(self) -> int:
        return self.datasets + self.models + self.plots

    def add(self, category: UsageCategory, size: int) -> None:
        setattr(self, category.value, getattr(self, category.value) + size)


@dataclass
class StoredUsage:
    """What a user stores, by state (in use or trash) and category."""

    used: CategoryBytes = field(default_factory=CategoryBytes)
    trash: CategoryBytes = field(default_factory=CategoryBytes)


def stored_usage(session: Session, user_id: str) -> StoredUsage:
    rows = session.execute(
        select(StoredObject.state, StoredObject.category, func.sum(StoredObject.size_bytes))
        .where(StoredObject.user_id == user_id)
        .group_by(StoredObject.state, StoredObject.category)
    ).all()
    usage = StoredUsage()
    for state, category, size in rows:
        part = usage.used if state == ObjectState.LIVE else usage.trash
        part.add(UsageCategory(category), int(size or 0))
    return usage


def recorded_keys(session: Session, keys: list[str]) -> set[str]:
    """Which of `keys` the ledger records: what a stopped run may delete is only the rest."""
    if not keys:
        return set()
    return set(session.scalars(select(StoredObject.key).where(StoredObject.key.in_(keys))))
