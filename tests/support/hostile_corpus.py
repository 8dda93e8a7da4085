"""The corpus of hostile uploads (issue 15, point 4), generated into a directory.

Each entry is a file, the outcome it must end in (`ready` or `failed`), the words its failure
message must hold, and for `ready` files a check of the stored content. `scale="full"` makes the
sizes the issue names (a 100 MB line, a 50 MB cell, a billion-row Parquet bomb); `scale="small"`
the same shapes just past the configured limits, for the fast lane (its limits are lowered by
`SMALL_LIMITS`). Files are written in chunks: generating the corpus holds no file in memory.

Used by tests/flows/test_hostile_corpus.py and bench/corpus.py; its Parquet files are made by
tests/support/hostile_parquet.py.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

from tests.support.corpus_file import CorpusFile, Scale
from tests.support.hostile_parquet import parquet_files

# The environment of the small corpus: the same refusals at a fraction of the sizes.
SMALL_LIMITS = {
    "AUTOML_MAX_ROW_BYTES": str(256 * 1024),
    "AUTOML_MAX_COLUMNS": "2000",
    "AUTOML_MAX_PARQUET_EXPANSION": "1000",
}
SMALL_EXPANSION_FLOOR = 64 * 1024**2  # tasks.content_screening.PARQUET_EXPANSION_FLOOR_BYTES
MB = 10**6
FORMULAS = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)"]


# Every file of the corpus, at both scales, in the order `build_corpus` makes them.
CORPUS_NAMES = [
    "gzip.csv",
    "zlib.csv",
    "bzip2.csv",
    "xz.csv",
    "zstd.csv",
    "zip.csv",
    "gzip-bomb.csv",
    "single-line.csv",
    "single-cell.csv",
    "wide-header.csv",
    "nul-byte.csv",
    "invalid-utf8.csv",
    "utf16-bom.csv",
    "utf32-bom.csv",
    "cr-only.csv",
    "malformed-footer.parquet",
    "huge-row-group.parquet",
    "lying-row-group.parquet",
    "bomb.parquet",
    "nested-decimal-tz.parquet",
    "duplicate-names.parquet",
    "dictionary-bomb.parquet",
    "formulas.csv",
]


def build_corpus(directory: Path, scale: Scale) -> list[CorpusFile]:
    directory.mkdir(parents=True, exist_ok=True)
    full = scale == "full"
    return [
        *_compressed(directory, 1000 if full else 10),
        _single_line(directory, 100 * MB if full else 1 * MB),
        _single_cell(directory, 50 * MB if full else 1 * MB),
        _wide_header(directory, 100_000 if full else 10_000),
        _nul_bytes(directory, 10 * MB if full else 100_000),
        *_csv_reader_cases(directory, full),
        *parquet_files(directory, full),
        _formulas(directory),
    ]


# --- compressed --------------------------------------------------------------------------------

CSV_INSIDE = b"id,name\n" + b"".join(b"%d,name-%d\n" % (i, i) for i in range(1000))


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.csv", data)
    return buffer.getvalue()


def _zstd(data: bytes) -> bytes:
    return bytes(pa.compress(data, codec="zstd", asbytes=True))


def _compressed(directory: Path, bomb_mb: int) -> list[CorpusFile]:
    # A gzip bomb too: `bomb_mb` MB of one CSV row repeated, a thousandth of that compressed.
    bomb = directory / "gzip-bomb.csv"
    with gzip.open(bomb, "wb", compresslevel=9) as file:
        file.write(b"a,b\n")
        block = b"1,2\n" * (MB // 4)
        for _ in range(bomb_mb):
            file.write(block)
    kinds = {
        "gzip": gzip.compress(CSV_INSIDE),
        "zlib": zlib.compress(CSV_INSIDE),
        "bzip2": bz2.compress(CSV_INSIDE),
        "xz": lzma.compress(CSV_INSIDE),
        "zstd": _zstd(CSV_INSIDE),
        "zip": _zip(CSV_INSIDE),
    }
    files = []
    for kind, content in kinds.items():
        path = directory / f"{kind}.csv"
        path.write_bytes(content)
        word = "a ZIP archive" if kind == "zip" else f"{kind}-compressed"
        files.append(CorpusFile(f"{kind}.csv", path, "failed", f"the file is {word}"))
    files.append(
        CorpusFile("gzip-bomb.csv", bomb, "failed", "the file is gzip-compressed", anchor="csv")
    )
    return files


# --- CSV shapes --------------------------------------------------------------------------------


def _write_repeated(path: Path, head: bytes, unit: bytes, total: int, tail: bytes = b"") -> None:
    block = unit * max(1, (4 * MB) // len(unit))
    with path.open("wb") as file:
        file.write(head)
        written = len(head)
        while written < total:
            piece = block[: total - written]
            file.write(piece)
            written += len(piece)
        file.write(tail)


def _single_line(directory: Path, size: int) -> CorpusFile:
    """One line, no line break: `size` bytes of comma-separated values (a header of millions
    of columns)."""
    path = directory / "single-line.csv"
    _write_repeated(path, b"", b"1234567,", size)
    return CorpusFile(
        "single-line.csv",
        path,
        "failed",
        "columns; at most",
        notes=f"{size:,} bytes, no line break",
        anchor="csv",
    )


def _single_cell(directory: Path, size: int) -> CorpusFile:
    path = directory / "single-cell.csv"
    _write_repeated(path, b"id,text\n1,", b"x", size + len(b"id,text\n1,"), b"\n2,short\n")
    return CorpusFile(
        "single-cell.csv",
        path,
        "failed",
        "the row starting at line 2 is longer than",
        notes=f"a value of {size:,} bytes",
        anchor="csv",
    )


def _wide_header(directory: Path, columns: int) -> CorpusFile:
    path = directory / "wide-header.csv"
    header = ",".join(f"c{i}" for i in range(columns)).encode() + b"\n"
    row = ",".join("1" for _ in range(columns)).encode() + b"\n"
    path.write_bytes(header + row * 3)
    return CorpusFile(
        "wide-header.csv",
        path,
        "failed",
        f"the header row has {columns:,} columns; at most",
        notes=f"{columns:,} columns",
        anchor="csv",
    )


def _nul_bytes(directory: Path, at: int) -> CorpusFile:
    """Plain CSV rows, then a NUL byte inside a value past the sniffed head."""
    path = directory / "nul-bytes.csv"
    rows = b"".join(b"%d,value-%d\n" % (i, i) for i in range(10_000))
    with path.open("wb") as file:
        file.write(b"id,text\n")
        written = 8
        while written < at:
            file.write(rows)
            written += len(rows)
        file.write(b"99,bad\x00value\n")
    return CorpusFile(
        "nul-byte.csv",
        path,
        "failed",
        "holds a NUL byte (byte offset",
        notes=f"a NUL byte at byte {at:,}",
        anchor="csv",
    )


def _csv_reader_cases(directory: Path, full: bool) -> list[CorpusFile]:
    """The encodings and line endings the CSV reader must get right: invalid UTF-8 first at
    byte 10 MB, UTF-16 (LE) and UTF-32 (BE) with a BOM, CR-only line endings."""
    rows = 1_000_000 if full else 10_000
    return [
        _invalid_utf8(directory, 10 * MB if full else 1 * MB),
        _wide_unicode(directory, "utf16-bom.csv", "utf-16-le", rows),
        # 4 bytes a character: half the rows for about the same size (~50 MB).
        _wide_unicode(directory, "utf32-bom.csv", "utf-32-be", rows // 2),
        _cr_only(directory, rows),
    ]


def _invalid_utf8(directory: Path, at: int) -> CorpusFile:
    """UTF-8 (a `ë` in the first row decides it), 10-byte ASCII rows up to byte `at`, then a
    byte that is not UTF-8: damage, refused with its line and offset, never re-guessed."""
    path = directory / "invalid-utf8.csv"
    head = "id,name\n0,Zoë\n".encode()
    count = (at - len(head)) // 10
    with path.open("wb") as file:
        file.write(head)
        for first in range(0, count, 100_000):
            file.write(b"".join(b"%08d,\n" % i for i in range(first, min(first + 100_000, count))))
        file.write(b"9,\xc3\x28\n" + b"10,ok\n" * 100_000)
    offset = len(head) + count * 10 + 2
    return CorpusFile(
        "invalid-utf8.csv",
        path,
        "failed",
        f"line {count + 3:,} is not valid UTF-8 (byte 0xc3 at offset {offset:,}",
        notes=f"UTF-8, then byte 0xc3 0x28 at byte {offset:,}",
        anchor="csv",
    )


def _wide_unicode(directory: Path, name: str, codec: str, rows: int) -> CorpusFile:
    """`rows` rows of text with a BOM in a code unit of 2 or 4 bytes (each ASCII character holds
    zero bytes): transcoded, ready, every value as written."""
    path = directory / name
    with path.open("wb") as file:
        file.write("\ufeffid,city,price\n".encode(codec))
        for first in range(0, rows, 100_000):
            block = range(first, min(first + 100_000, rows))
            file.write("".join(f"{i},Kraków 😀,{i}.5\n" for i in block).encode(codec))

    def check(frame: pl.DataFrame, profile: dict[str, object]) -> None:
        assert frame.schema == {"id": pl.Int64, "city": pl.String, "price": pl.Float64}
        assert frame.height == rows
        assert frame.row(rows - 1) == (rows - 1, "Kraków 😀", rows - 1 + 0.5)
        assert profile["dialect"]["encoding"] == codec[:6]  # type: ignore[index]

    return CorpusFile(
        name,
        path,
        "ready",
        check=check,
        notes=f"{rows:,} rows, {codec.upper()} with a byte-order mark",
    )


def _cr_only(directory: Path, rows: int) -> CorpusFile:
    """Classic Mac OS line endings, with a carriage return inside a quoted value."""
    path = directory / "cr-only.csv"
    with path.open("wb") as file:
        file.write(b"id,note,day\r")
        for first in range(0, rows, 100_000):
            block = range(first, min(first + 100_000, rows))
            file.write(b"".join(b'%d,"a\rb",2024-01-02\r' % i for i in block))

    def check(frame: pl.DataFrame, profile: dict[str, object]) -> None:
        assert frame.schema == {"id": pl.Int64, "note": pl.String, "day": pl.Date}
        assert frame.height == rows
        assert frame.row(rows // 2) == (rows // 2, "a\rb", date(2024, 1, 2))
        assert profile["dialect"]["line_ending"] == "CR"  # type: ignore[index]

    return CorpusFile(
        "cr-only.csv",
        path,
        "ready",
        check=check,
        notes=f"{rows:,} rows ending in CR alone, a CR inside quotes",
        anchor="csv",
    )


# --- formulas ----------------------------------------------------------------------------------


def _formulas(directory: Path) -> CorpusFile:
    path = directory / "formulas.csv"
    lines = ["id,cell,note"]
    lines += [
        f'{i},"{value.replace(chr(34), chr(34) * 2)}",plain' for i, value in enumerate(FORMULAS)
    ]
    lines += ["9,-5,plain"]  # a number in a text column is not a formula
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def check(frame: pl.DataFrame, profile: dict[str, object]) -> None:
        assert frame["cell"].to_list() == [*FORMULAS, "-5"]  # verbatim
        columns = {column["name"]: column for column in profile["columns"]}  # type: ignore[attr-defined]
        assert columns["cell"]["formula_like"] == len(FORMULAS)
        assert columns["note"]["formula_like"] == 0
        assert profile["formula_like_columns"] == ["cell"]

    return CorpusFile("formulas.csv", path, "ready", check=check)
