"""The API's memory of verified tokens: trusted for its time to live and no longer, never past
the token's expiry, and forgotten by every revoke or disable, even one racing a lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalog import verified_tokens as module
from catalog.accounts import (
    create_token,
    disable_user,
    list_tokens,
    revoke_token,
    revoke_token_by_id,
)
from catalog.database import Catalog
from catalog.verified_tokens import VerifiedTokens, VerifiedUser
from core.settings import Settings
from tests.support.token_clock import Clock

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ALICE = VerifiedUser("alice", "free")


def _remembered(tokens: VerifiedTokens, expires_at: datetime | None = None) -> None:
    generation, started = tokens.begin()
    tokens.remember("hash", ALICE, expires_at, started, generation)


def test_a_token_is_trusted_for_its_time_to_live_and_not_after(clock: Clock) -> None:
    tokens = VerifiedTokens()
    assert tokens.lookup("hash", 5, NOW) is None
    _remembered(tokens)
    clock.now += 4.9
    assert tokens.lookup("hash", 5, NOW) == ALICE
    clock.now += 0.2
    assert tokens.lookup("hash", 5, NOW) is None
    clock.now -= 1  # a forgotten entry stays forgotten
    assert tokens.lookup("hash", 5, NOW) is None


def test_a_remembered_token_is_refused_from_its_expiry(clock: Clock) -> None:
    tokens = VerifiedTokens()
    _remembered(tokens, expires_at=NOW + timedelta(seconds=1))
    assert tokens.lookup("hash", 60, NOW) == ALICE
    assert tokens.lookup("hash", 60, NOW + timedelta(seconds=1)) is None


def test_an_answer_read_before_a_revoke_is_not_remembered(clock: Clock) -> None:
    tokens = VerifiedTokens()
    generation, started = tokens.begin()
    tokens.forget_all()  # a revoke commits while the catalog is being read
    tokens.remember("hash", ALICE, None, started, generation)
    assert tokens.lookup("hash", 60, NOW) is None


def test_only_the_most_recently_used_tokens_are_kept(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "MAX_VERIFIED_TOKENS", 2)
    tokens = VerifiedTokens()
    for name in ("a", "b"):
        generation, started = tokens.begin()
        tokens.remember(name, ALICE, None, started, generation)
    assert tokens.lookup("a", 60, NOW) == ALICE  # "b" is now the least recently used
    generation, started = tokens.begin()
    tokens.remember("c", ALICE, None, started, generation)
    assert [tokens.lookup(n, 60, NOW) for n in ("a", "b", "c")] == [ALICE, None, ALICE]


@pytest.mark.parametrize("change", ["revoke", "revoke by id", "disable"])
def test_revoking_or_disabling_forgets_every_token_when_it_runs_and_when_it_commits(
    catalog: Catalog, clock: Clock, change: str
) -> None:
    settings = Settings()
    with catalog.session() as session:
        token = create_token(session, settings, "bob", "free")
    tokens = module.verified_tokens
    _remembered(tokens)
    with catalog.session() as session:
        if change == "revoke":
            assert revoke_token(session, token)
        elif change == "revoke by id":
            assert revoke_token_by_id(session, list_tokens(session, "bob")[0].id)
        else:
            assert disable_user(session, "bob")
        assert tokens.lookup("hash", 60, NOW) is None
        _remembered(tokens)  # a request that read the token as live before the commit
    assert tokens.lookup("hash", 60, NOW) is None
