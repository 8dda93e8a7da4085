"""Refuses hostile uploads before polars reads them: compressed content, binary bytes, rows or
headers too large to hold, and Parquet files whose footer declares more than they can be.

Each check reads bounded amounts: the magic bytes of the sniffed head, one vectorised pass over
a CSV in 4 MiB chunks (about a tenth of parsing it), or a Parquet file's footer alone. Every
refusal is a `ContentRejectedError` whose sentence says what was found and what to upload
instead (docs/spec.md §4, content screening).
"""

from __future__ import annotations

import codecs
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import ContentRejectedError
from core.settings import GiB, Settings

SCAN_CHUNK_BYTES = 4 * 1024**2
# Parquet files that decode to less than this are never called bombs, whatever their ratio.
PARQUET_EXPANSION_FLOOR_BYTES = 1 * GiB
# polars (without its 64-bit index build) holds at most this many rows in a frame.
MAX_ROWS = 2**32 - 1
# Bytes one decoded value takes at least, by Parquet physical type (variable-length values:
# their offset; their bytes are in the column's uncompressed size).
PHYSICAL_VALUE_BYTES = {
    "BOOLEAN": 1,
    "INT32": 4,
    "INT64": 8,
    "INT96": 12,
    "FLOAT": 4,
    "DOUBLE": 8,
    "BYTE_ARRAY": 8,
    "FIXED_LEN_BYTE_ARRAY": 8,
}
# Separators a CSV header may use (comma, semicolon, tab, pipe): the widest reading counts.
HEADER_SEPARATORS = (ord(","), ord(";"), ord("\t"), ord("|"))
QUOTE = ord('"')
LINE_FEED, CARRIAGE_RETURN = ord("\n"), ord("\r")

# (magic bytes at offset 0, what the file is). Checked before the UTF-8 test, so that a
# compressed upload is named instead of called "not UTF-8". polars would silently decompress
# gzip, zlib and zstd: a few KB could expand without limit.
COMPRESSION_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x5d\x00\x00", "lzma-compressed"),
    (b"\x04\x22\x4d\x18", "lz4-compressed"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one too)"),
    (b"PK\x05\x06", "a ZIP archive (an Excel .xlsx workbook is one too)"),
    (b"PK\x07\x08", "a ZIP archive (an Excel .xlsx workbook is one too)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook (or another OLE file)"),
)
ZLIB_FIRST_BYTE = 0x78
# "BZh", the block size digit, then a block's magic (pi) or the end of stream's (sqrt pi):
# "BZh" alone is text a header could start with.
BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")


@dataclass(frozen=True)
class ContentLimits:
    """The configured limits of docs/spec.md §1 that screening applies."""

    max_columns: int
    max_row_bytes: int
    max_parquet_expansion: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ContentLimits:
        return cls(
            max_columns=settings.max_columns,
            max_row_bytes=settings.max_row_bytes,
            max_parquet_expansion=settings.max_parquet_expansion,
        )


def refuse_compressed(head: bytes) -> None:
    """Refuses content that is compressed or archived, by its magic bytes: compressed uploads
    are not decompressed (no bomb can expand), the user uploads the CSV or Parquet inside."""
    found = next((what for magic, what in COMPRESSION_MAGIC if head.startswith(magic)), None)
    if found is None and BZIP2.match(head):
        found = "bzip2-compressed"
    if found is None and _is_zlib_stream(head):
        found = "zlib-compressed"
    if found is not None:
        raise ContentRejectedError(f"the file is {found}; upload the uncompressed CSV or Parquet")


def screen_csv(path: Path, limits: ContentLimits) -> None:
    """One pass over the bytes: a NUL byte, a row longer than `max_row_bytes` (outside quoted
    fields a line feed or carriage return ends a row), or a header of more than `max_columns`
    columns is refused, at the first such place, before the rest is read."""
    _CsvScan(path, limits).run()


def screen_parquet(path: Path, limits: ContentLimits) -> None:
    """Checks the footer before any data is read: the column count, the declared data against
    the file's size (a footer that declares more than the file holds is damaged), and the
    decoded size against `max_parquet_expansion` times the file's size (a bomb)."""
    try:
        metadata = pq.read_metadata(path)
        columns = len(pq.read_schema(path).names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ContentRejectedError(
            "the Parquet file is damaged: its footer cannot be read"
        ) from exc
    if columns > limits.max_columns:
        raise ContentRejectedError(
            f"the file has {columns:,} columns; at most {limits.max_columns:,} are supported"
        )
    size = path.stat().st_size
    declared_bytes = decoded_bytes = declared_rows = 0
    for group_index in range(metadata.num_row_groups):
        group = metadata.row_group(group_index)
        declared_rows += group.num_rows
        for column_index in range(group.num_columns):
            chunk = group.column(column_index)
            if chunk.num_values < group.num_rows:  # every row holds a value or a null
                raise ContentRejectedError(
                    f"the Parquet file is damaged: its footer declares {group.num_rows:,} rows "
                    f"in row group {group_index + 1}, whose column {chunk.path_in_schema!r} "
                    f"holds {chunk.num_values:,} values"
                )
            declared_bytes += chunk.total_compressed_size
            width = PHYSICAL_VALUE_BYTES.get(chunk.physical_type, 8)
            decoded_bytes += max(chunk.total_uncompressed_size, chunk.num_values * width)
    if declared_bytes > size or declared_rows != metadata.num_rows or declared_rows < 0:
        raise ContentRejectedError(
            "the Parquet file is damaged: its footer declares "
            f"{declared_rows:,} rows in {_size(declared_bytes)} of data, which a file of "
            f"{_size(size)} cannot hold"
        )
    if declared_rows > MAX_ROWS:
        raise ContentRejectedError(
            f"the Parquet file has {declared_rows:,} rows; at most {MAX_ROWS:,} are supported"
        )
    allowed = max(PARQUET_EXPANSION_FLOOR_BYTES, limits.max_parquet_expansion * size)
    if decoded_bytes > allowed:
        raise ContentRejectedError(
            f"the Parquet file would expand from {_size(size)} to about "
            f"{_size(decoded_bytes)} once decoded ({declared_rows:,} rows; "
            f"{decoded_bytes // max(size, 1):,} times its size, at most "
            f"{limits.max_parquet_expansion:,} times is accepted): it looks like a "
            "decompression bomb"
        )


def _is_zlib_stream(head: bytes) -> bool:
    """A zlib header (0x78, a check byte) on bytes that are not UTF-8 text and inflate: polars
    decompresses these. `x^` is such a header too, and text may start with it."""
    if len(head) < 2 or head[0] != ZLIB_FIRST_BYTE or (head[0] * 256 + head[1]) % 31:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return False
    try:
        zlib.decompressobj().decompress(head[:4096], 64 * 1024)
    except zlib.error:
        return False
    return True


def _size(count: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"


class _CsvScan:
    """The state of `screen_csv`'s pass, carried from chunk to chunk: where the current row
    started (and on which line), whether a quoted field is open, and the header's separator
    counts until it ends.

    Positions are in code units: bytes, or 16-bit units for UTF-16 with a BOM (whose ASCII
    characters each hold a zero byte, so it is scanned in units, not bytes)."""

    def __init__(self, path: Path, limits: ContentLimits) -> None:
        self.path = path
        self.limits = limits
        with path.open("rb") as file:
            bom = file.read(2)
        self.dtype = {b"\xff\xfe": "<u2", b"\xfe\xff": ">u2"}.get(bom, "u1")
        self.unit_bytes = np.dtype(self.dtype).itemsize
        self.max_row_units = limits.max_row_bytes // self.unit_bytes
        self.row_start = 0
        self.row_start_line = 1
        self.inside_quotes = False
        self.header_done = False
        self.header_separators = [0] * len(HEADER_SEPARATORS)
        self.line_feeds = 0
        self.carriage_returns = 0

    def run(self) -> None:
        offset = 0
        with self.path.open("rb") as file:
            while chunk := file.read(SCAN_CHUNK_BYTES):
                data = np.frombuffer(chunk, dtype=self.dtype, count=len(chunk) // self.unit_bytes)
                self._scan(data, offset)
                offset += len(data)
        if not self.header_done:
            self._refuse_wide_header(complete=True)

    def _scan(self, data: np.ndarray, offset: int) -> None:
        is_quote = data == QUOTE
        # Odd parity of the quotes so far (a doubled quote toggles twice) is inside a field.
        inside = (np.cumsum(is_quote, dtype=np.uint8) & 1).astype(bool) ^ self.inside_quotes
        outside = ~inside
        row_ends = np.flatnonzero(((data == LINE_FEED) | (data == CARRIAGE_RETURN)) & outside)
        long_row = self._first_long_row(row_ends, offset, len(data))
        nul = np.flatnonzero(data == 0)
        if len(nul) and (long_row is None or int(nul[0]) <= long_row[1]):
            self._refuse_nul(data, offset, int(nul[0]))
        if not self.header_done:
            header_end = int(row_ends[0]) if len(row_ends) else len(data)
            for index, separator in enumerate(HEADER_SEPARATORS):
                found = (data[:header_end] == separator) & outside[:header_end]
                self.header_separators[index] += int(np.count_nonzero(found))
            self._refuse_wide_header(complete=len(row_ends) > 0)
            self.header_done = len(row_ends) > 0
        if long_row is not None:
            self._refuse_long_row(data, offset, long_row[0])
        if len(row_ends):
            last = int(row_ends[-1])
            self.row_start = offset + last + 1
            self.row_start_line = self._line_at(data, last + 1)
        self.line_feeds += int(np.count_nonzero(data == LINE_FEED))
        self.carriage_returns += int(np.count_nonzero(data == CARRIAGE_RETURN))
        self.inside_quotes ^= bool(np.count_nonzero(is_quote) % 2)

    def _first_long_row(
        self, row_ends: np.ndarray, offset: int, length: int
    ) -> tuple[int, int] | None:
        """(start, position past the limit) of the first row in this chunk longer than the
        limit (the row still open at its end included), as global start and chunk position."""
        starts = np.concatenate(([self.row_start], offset + row_ends + 1))
        ends = np.concatenate((offset + row_ends, [offset + length]))
        too_long = np.flatnonzero(ends - starts > self.max_row_units)
        if not len(too_long):
            return None
        start = int(starts[int(too_long[0])])
        return start, start + self.max_row_units - offset

    def _line_at(self, data: np.ndarray, position: int) -> int:
        """The line number (1-based) of a chunk position: line feeds before it, or carriage
        returns in a file that has none (old Mac line endings)."""
        feeds = self.line_feeds + int(np.count_nonzero(data[:position] == LINE_FEED))
        if feeds:
            return 1 + feeds
        return 1 + self.carriage_returns + int(np.count_nonzero(data[:position] == CARRIAGE_RETURN))

    def _refuse_wide_header(self, complete: bool) -> None:
        columns = 1 + max(self.header_separators)
        if columns > self.limits.max_columns:
            counted = f"{columns:,}" if complete else f"more than {self.limits.max_columns:,}"
            raise ContentRejectedError(
                f"the header row has {counted} columns; at most "
                f"{self.limits.max_columns:,} are supported"
            )

    def _refuse_nul(self, data: np.ndarray, offset: int, position: int) -> None:
        raise ContentRejectedError(
            f"line {self._line_at(data, position):,} holds a NUL byte (byte offset "
            f"{(offset + position) * self.unit_bytes:,}): the file is binary, not CSV text; "
            "save it as CSV UTF-8 or Parquet"
        )

    def _refuse_long_row(self, data: np.ndarray, offset: int, start: int) -> None:
        line = self.row_start_line if start < offset else self._line_at(data, start - offset)
        raise ContentRejectedError(
            f"the row starting at line {line:,} is longer than "
            f"{_size(self.limits.max_row_bytes)}, the most one row may hold: a value may be "
            "missing its closing quote, or the file is not a table"
        )
