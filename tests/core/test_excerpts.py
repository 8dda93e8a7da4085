"""Quoted uploader text is cut to a bound, visibly."""

from __future__ import annotations

from core.excerpts import NAME_MAX_CHARS, excerpt, quoted_name


def test_short_text_is_kept_and_long_text_ends_with_an_ellipsis() -> None:
    assert excerpt("abc", 3) == "abc"
    assert excerpt("abcd", 3) == "abc\u2026"


def test_a_name_is_quoted_and_cut_after_its_bound() -> None:
    assert quoted_name("price") == "'price'"
    assert quoted_name("x" * 10_000) == repr("x" * NAME_MAX_CHARS + "\u2026")
