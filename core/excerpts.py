"""Caps uploaded text where it is quoted: error messages, logs, events, profiles and artifacts.

A column name or a value is the uploader's text and may be megabytes long; a message or a record
that quotes it whole would carry it into the catalog, every log line and the Prefect event (which
rejects oversized payloads). Quoted text keeps its first characters and ends with `ELLIPSIS`.
"""

from __future__ import annotations

# A name quoted in a message (a column, a target), and a value kept in a profile.
NAME_MAX_CHARS = 64
VALUE_MAX_CHARS = 200
ELLIPSIS = "\u2026"


def excerpt(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its first `limit` and an ellipsis."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def quoted_name(name: str) -> str:
    """A name as a message quotes it: in quotes (`repr`), cut after `NAME_MAX_CHARS`."""
    return repr(excerpt(name, NAME_MAX_CHARS))
