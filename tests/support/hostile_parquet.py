"""The Parquet files of the hostile corpus (tests/support/hostile_corpus.py): a malformed footer,
row groups that are huge or lie about their rows, expansion and dictionary bombs, nested and
typed columns, duplicate names."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.corpus_file import CorpusFile
from tests.support.parquet_footer import declare_rows


def parquet_files(directory: Path, full: bool) -> list[CorpusFile]:
    return [
        _malformed_footer(directory),
        _huge_row_group(directory, 64 * 1024**2 if full else 2_000_000),
        _lying_row_group(directory),
        # The small bomb is past the limit only with a lowered floor (SMALL_EXPANSION_FLOOR).
        _bomb(directory, 2**30 if full else 2**24),
        _nested_and_typed(directory),
        _duplicate_names(directory),
        # Past the limit at both scales: 1 TB decoded (full), 100 GB (small).
        _dictionary_bomb(directory, 1_000_000 if full else 100_000),
    ]


def _malformed_footer(directory: Path) -> CorpusFile:
    path = directory / "malformed-footer.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), path)
    content = bytearray(path.read_bytes())
    footer_length = int.from_bytes(content[-8:-4], "little")
    start = len(content) - 8 - footer_length
    content[start : start + footer_length // 2] = b"\xff" * (footer_length // 2)
    path.write_bytes(bytes(content))
    return CorpusFile(
        "malformed-footer.parquet", path, "failed", "the Parquet file is damaged: its footer"
    )


def _constant_column(path: Path, rows: int, value: int) -> None:
    """`rows` equal int64 values, written in row groups of 64 Mi rows (pyarrow's largest), from
    one 64 Mi block of memory."""
    group = min(rows, 64 * 1024**2)
    block = pa.table({"v": pa.array(np.full(group, value, dtype=np.int64))})
    with pq.ParquetWriter(path, block.schema, compression="zstd") as writer:
        written = 0
        while written < rows:
            part = block.slice(0, min(group, rows - written))
            writer.write_table(part, row_group_size=group)
            written += part.num_rows


def _huge_row_group(directory: Path, rows: int) -> CorpusFile:
    """One row group as large as pyarrow writes (64 Mi rows, 512 MiB decoded): polars decodes
    a row group whole; the rewrite must not."""
    path = directory / "huge-row-group.parquet"
    _constant_column(path, rows, 7)

    def check(frame: pl.DataFrame, profile: dict[str, object]) -> None:
        assert frame.height == rows
        assert frame["v"].min() == frame["v"].max() == 7

    return CorpusFile(
        "huge-row-group.parquet",
        path,
        "ready",
        check=check,
        notes=f"{rows:,} int64 rows in row groups of up to 64 Mi rows",
        anchor="parquet",
    )


def _lying_row_group(directory: Path) -> CorpusFile:
    """100 rows of data under a footer that declares 2^40 rows (polars would refuse past 2^32,
    pyarrow would read what is there and write a file of another size)."""
    path = directory / "lying-row-group.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), path)
    declare_rows(path, 2**40)
    return CorpusFile(
        "lying-row-group.parquet",
        path,
        "failed",
        "the Parquet file is damaged: its footer declares 1,099,511,627,776 rows in row group 1",
        notes="100 rows of data, a footer declaring 2^40",
    )


def _bomb(directory: Path, rows: int) -> CorpusFile:
    path = directory / "bomb.parquet"
    _constant_column(path, rows, 0)
    return CorpusFile(
        "bomb.parquet",
        path,
        "failed",
        "it looks like a decompression bomb",
        notes=f"{rows:,} equal int64 values ({rows * 8 / 1e9:.1f} GB decoded)",
        anchor="parquet",
    )


def _dictionary_bomb(directory: Path, value_bytes: int) -> CorpusFile:
    """1,000,000 rows of one `value_bytes` string, dictionary-encoded: a few KB whose footer
    declares the dictionary once, so its sizes look harmless; only reading shows the bomb."""
    path = directory / "dictionary-bomb.parquet"
    rows = 1_000_000
    indices = pa.array(np.zeros(rows, dtype=np.int32))
    column = pa.DictionaryArray.from_arrays(indices, pa.array(["x" * value_bytes]))
    pq.write_table(pa.table({"s": column}), path, compression="zstd")
    return CorpusFile(
        "dictionary-bomb.parquet",
        path,
        "failed",
        "it looks like a decompression bomb",
        notes=f"{rows:,} rows of one {value_bytes:,}-byte string ({rows * value_bytes / 1e9:,.0f}"
        " GB decoded), dictionary-encoded",
    )


def _nested_and_typed(directory: Path) -> CorpusFile:
    path = directory / "nested-typed.parquet"
    table = pa.table(
        {
            "items": pa.array([[1, 2], [3], None]),
            "point": pa.array([{"x": 1.5, "label": "a"}, {"x": 2.0, "label": "b"}, None]),
            "price": pa.array([Decimal("1.23"), Decimal("-4.50"), None], pa.decimal128(10, 2)),
            "at": pa.array(
                [1_700_000_000_000_000, 1_700_000_060_000_000, None],
                pa.timestamp("us", tz="Europe/Paris"),
            ),
        }
    )
    pq.write_table(table, path)

    def check(frame: pl.DataFrame, profile: dict[str, object]) -> None:
        assert frame["items"].to_list() == [[1, 2], [3], None]
        assert frame["point"].to_list()[:2] == [{"x": 1.5, "label": "a"}, {"x": 2.0, "label": "b"}]
        assert frame["price"].to_list() == [Decimal("1.23"), Decimal("-4.50"), None]
        assert str(frame["at"].dtype) == "Datetime(time_unit='us', time_zone='Europe/Paris')"
        assert frame["at"].dt.epoch("us").to_list() == [
            1_700_000_000_000_000,
            1_700_000_060_000_000,
            None,
        ]

    return CorpusFile("nested-decimal-tz.parquet", path, "ready", check=check)


def _duplicate_names(directory: Path) -> CorpusFile:
    path = directory / "duplicate-names.parquet"
    table = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])
    pq.write_table(table, path)
    return CorpusFile("duplicate-names.parquet", path, "failed", "column name 'a' appears twice")
