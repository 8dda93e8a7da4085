"""Tokens the API verified a moment ago, so a hot route asks the catalog about a token once
every few seconds instead of at every request; revoking or disabling forgets them all."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

# Past this many tokens the least recently used is forgotten (only live tokens are kept, so
# unknown tokens sent in bulk cannot fill it).
MAX_VERIFIED_TOKENS = 10_000


def _clock() -> float:
    """Seconds on a clock that never goes back (tests move it on)."""
    return time.monotonic()


@dataclass(frozen=True)
class VerifiedUser:
    id: str
    tier: str


@dataclass(frozen=True)
class _Entry:
    user: VerifiedUser
    expires_at: datetime | None  # the token's own expiry: checked at every use
    verified_at: float  # `_clock()` before the catalog was read


class VerifiedTokens:
    """Live tokens by hash, each trusted for a while after the catalog said it was live.

    A token revoked, or a user disabled, through `catalog.accounts` in this process is refused
    from the next request: those forget every entry when they run and again when their
    transaction commits, and an answer read before that is not remembered. Changed from another
    process (the CLI), it is refused once its entry is older than the caller's time to live. An
    expired token is refused from its expiry exactly."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def begin(self) -> tuple[int, float]:
        """(generation, time), read before asking the catalog: `remember` takes them back and
        drops the answer if a revoke or disable ran since."""
        with self._lock:
            return self._generation, _clock()

    def lookup(self, token_hash: str, ttl_seconds: float, now: datetime) -> VerifiedUser | None:
        """The user of a token verified less than `ttl_seconds` ago and not expired since."""
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None:
                return None
            fresh = _clock() - entry.verified_at < ttl_seconds
            if not fresh or (entry.expires_at is not None and entry.expires_at <= now):
                del self._entries[token_hash]
                return None
            self._entries.move_to_end(token_hash)
            return entry.user

    def remember(
        self,
        token_hash: str,
        user: VerifiedUser,
        expires_at: datetime | None,
        verified_at: float,
        generation: int,
    ) -> None:
        with self._lock:
            if generation != self._generation:
                return  # a revoke or disable ran meanwhile: the answer may be stale
            self._entries[token_hash] = _Entry(user, expires_at, verified_at)
            self._entries.move_to_end(token_hash)
            while len(self._entries) > MAX_VERIFIED_TOKENS:
                self._entries.popitem(last=False)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def forget_all_now_and_after_commit(self, session: Session) -> None:
        """For a transaction that revokes or disables: a request that read the token as live
        before the commit is not trusted after it."""
        self.forget_all()
        event.listen(session, "after_commit", lambda _session: self.forget_all(), once=True)


verified_tokens = VerifiedTokens()
