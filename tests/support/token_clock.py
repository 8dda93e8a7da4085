"""A clock the tests move on, standing in for the verified-token memory's own
(catalog/verified_tokens.py `_clock`)."""

from __future__ import annotations


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
