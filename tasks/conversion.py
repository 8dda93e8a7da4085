"""Validates an uploaded file by sniffing its content and streams it into zstd Parquet.

Nothing here holds a whole file in memory: hashing reads 1 MiB chunks, sniffing reads 64 KiB,
the CSV structure check counts bytes in 4 MiB chunks, CSV is converted by polars' streaming
engine (`tasks.csv_conversion`) and Parquet in bounded batches (`tasks.parquet_rewrite`).
Every problem with the content is a `ContentRejectedError` whose message a data scientist can
act on (which row, which column, which byte); a partly written destination never survives a
failure.

CSV rules: text in UTF-8 (with or without a BOM), UTF-16 or UTF-32 with a BOM, or
Windows-1252/Latin-1, the latter three transcoded to a UTF-8 temp file in chunks first
(`tasks.csv_encoding`); separated by commas, semicolons, tabs or pipes, with LF, CRLF or CR line
endings, and a decimal comma in a file not separated by commas (`tasks.csv_dialect`);
`"`-quoted (quoted fields may hold separators, quotes doubled, and newlines), a header row of
unique, non-empty names, and every data row with exactly as many fields as the header. A header
with no data rows is a valid, empty dataset. A blank line in a CSV of several columns is
rejected (polars would keep it as a row of nulls); in a one-column CSV it is an empty value.
Column types never change what a value says (`tasks.csv_types`): `08123` stays text.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import ContentRejectedError
from core.settings import get_settings
from tasks.content_screening import ContentLimits, check_column_names, refuse_compressed
from tasks.csv_conversion import convert_csv
from tasks.csv_encoding import is_transcodable_text
from tasks.parquet_rewrite import rewrite_parquet_in_batches

MiB = 1024**2
HASH_CHUNK_BYTES = 1 * MiB
SNIFF_BYTES = 64 * 1024
PARQUET_MAGIC = b"PAR1"

FileFormat = Literal["csv", "parquet"]


@dataclass(frozen=True)
class ConversionResult:
    """What the written Parquet holds, read back from its footer."""

    row_count: int
    column_count: int
    columns: list[str]
    # How a CSV file was read (`CsvDialect.as_profile`); None for Parquet.
    dialect: dict[str, Any] | None = field(default=None, compare=False)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks so any size fits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_format(path: Path) -> FileFormat:
    """Decides "parquet" or "csv" from the bytes: the name and declared type are not trusted.

    Parquet starts and ends with `PAR1` and has a readable footer; anything else must be UTF-8
    text (checked on its first 64 KiB; the rest is checked while converting).
    """
    size = path.stat().st_size
    if size == 0:
        raise ContentRejectedError("the file is empty")
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES)
    if head.startswith(PARQUET_MAGIC):
        _check_parquet_footer(path, size)
        return "parquet"
    refuse_compressed(head)
    _check_utf8_text(head, complete=size <= SNIFF_BYTES)
    return "csv"


def convert_to_parquet(
    source: Path, file_format: str, destination: Path, limits: ContentLimits | None = None
) -> ConversionResult:
    """Streams `source` (a sniffed "csv" or "parquet") into zstd Parquet at `destination`.

    The output is written beside `destination` and renamed into place only when complete and
    checked, so a failure never leaves a partial file at `destination`. Parquet input is
    re-written the same way, so every stored version is zstd and passed the same name checks.
    A CSV holding only a header becomes a dataset of 0 rows (all columns strings). Parquet
    input is held to `limits` as it decodes (the configured ones when None).
    """
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    dialect: dict[str, Any] | None = None
    try:
        if file_format == "csv":
            dialect = convert_csv(source, partial).as_profile()
        else:
            limits = limits or ContentLimits.from_settings(get_settings())
            _convert_parquet(source, partial, limits)
        result = _read_result(partial, dialect)
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return result


# --- sniffing ---------------------------------------------------------------------------------


def _check_parquet_footer(path: Path, size: int) -> None:
    damaged = ContentRejectedError("the Parquet file is damaged: its footer cannot be read")
    if size < 2 * len(PARQUET_MAGIC) + 4:
        raise damaged
    with path.open("rb") as file:
        file.seek(-len(PARQUET_MAGIC), os.SEEK_END)
        if file.read() != PARQUET_MAGIC:
            raise damaged
    try:
        pq.read_metadata(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise damaged from exc


def _check_utf8_text(head: bytes, complete: bool) -> None:
    """Refuses binary content: a NUL byte or invalid UTF-8 in the sniffed bytes (text in an
    encoding `tasks.csv_encoding` transcodes passes)."""
    if is_transcodable_text(head, complete):
        return
    offset: int | None = None
    try:
        # An incremental decoder tolerates a character cut in two by the 64 KiB boundary.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError as exc:
        offset = exc.start
    nul = head.find(b"\x00")
    if nul != -1 and (offset is None or nul < offset):
        offset = nul
    if offset is not None:
        raise ContentRejectedError(
            "the file is not UTF-8 text (nor Parquet): save it as CSV UTF-8 or Parquet "
            f"(byte 0x{head[offset]:02x} at offset {offset})"
        )


# --- Parquet ----------------------------------------------------------------------------------


def _convert_parquet(source: Path, destination: Path, limits: ContentLimits) -> None:
    try:
        names = pq.read_schema(source).names
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ContentRejectedError(
            "the Parquet file is damaged: its footer cannot be read"
        ) from exc
    check_column_names(names)
    try:
        rewrite_parquet_in_batches(source, destination, limits)
    except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ContentRejectedError(f"the Parquet file cannot be read: {first_line}") from exc


def _read_result(path: Path, dialect: dict[str, Any] | None) -> ConversionResult:
    metadata = pq.read_metadata(path)
    columns = pq.read_schema(path).names
    return ConversionResult(
        row_count=metadata.num_rows,
        column_count=len(columns),
        columns=list(columns),
        dialect=dialect,
    )
