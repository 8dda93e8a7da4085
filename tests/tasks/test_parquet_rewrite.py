"""The batched Parquet rewrite measures what it decodes: bombs the footer hides and oversized
rows are refused while reading, and batches follow decoded bytes. Local files only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ContentRejectedError
from tasks import content_screening, parquet_rewrite
from tasks.content_screening import ContentLimits, screen_parquet
from tasks.parquet_rewrite import rewrite_parquet_in_batches
from tests.support.parquet_footer import declare_uncompressed_bytes

LIMITS = ContentLimits(max_columns=10, max_row_bytes=64 * 1024, max_parquet_expansion=100)


def refusal(check: Callable[[], None]) -> str:
    with pytest.raises(ContentRejectedError) as caught:
        check()
    return caught.value.message


def one_string_many_times(path: Path, value: str, rows: int) -> None:
    """`rows` references to one dictionary value: a few KB on disk, rows x len(value) decoded."""
    indices = pa.array([0] * rows, type=pa.int32())
    column = pa.DictionaryArray.from_arrays(indices, pa.array([value]))
    pq.write_table(pa.table({"s": column}), path, compression="zstd")


def test_a_dictionary_bomb_passes_the_footer_check_and_is_refused_while_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content_screening, "PARQUET_EXPANSION_FLOOR_BYTES", 4 * 1024**2)
    source, target = tmp_path / "bomb.parquet", tmp_path / "out.parquet"
    one_string_many_times(source, "x" * 10_000, 200_000)  # 2 GB decoded
    screen_parquet(source, LIMITS)  # the footer declares the dictionary once: it cannot tell
    message = refusal(lambda: rewrite_parquet_in_batches(source, target, LIMITS))
    assert message.startswith("the Parquet file would expand from ")
    assert message.endswith(
        "rows; at most 100 times its size is accepted): it looks like a decompression bomb"
    )
    assert "of its 200,000 rows" in message


def test_a_footer_understating_plain_pages_is_refused_while_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content_screening, "PARQUET_EXPANSION_FLOOR_BYTES", 1024**2)
    source, target = tmp_path / "plain.parquet", tmp_path / "out.parquet"
    table = pa.table({"s": ["a" * 10_000] * 2_000})  # 20 MB of plain pages, a few KB of zstd
    pq.write_table(table, source, compression="zstd", use_dictionary=False)
    declare_uncompressed_bytes(source, 1_000)
    screen_parquet(source, LIMITS)
    assert "it looks like a decompression bomb" in refusal(
        lambda: rewrite_parquet_in_batches(source, target, LIMITS)
    )


def test_a_row_larger_than_the_row_limit_is_refused_with_its_number(tmp_path: Path) -> None:
    source, target = tmp_path / "long-row.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "s": ["a", "b" * 100_000, None]}), source)
    assert refusal(lambda: rewrite_parquet_in_batches(source, target, LIMITS)) == (
        "row 2 of the Parquet file holds 100.0 KB once decoded, more than 65.5 KB, "
        "the most one row may hold"
    )


def test_output_row_groups_follow_decoded_bytes_and_text_stays_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_rewrite, "BATCH_TARGET_BYTES", 64 * 1024)
    source, target = tmp_path / "rows.parquet", tmp_path / "out.parquet"
    frame = pl.DataFrame(
        {
            "id": range(3_000),
            "text": [None if i % 11 == 0 else f"{i:04d}" * 250 for i in range(3_000)],  # 1 KB
            "tag": [f"t{i % 3}" for i in range(3_000)],
            "items": [[i, i + 1] for i in range(3_000)],
            "raw": [bytes([i % 256]) * 3 for i in range(3_000)],
        }
    )
    frame.write_parquet(source, row_group_size=3_000)
    rewrite_parquet_in_batches(source, target, LIMITS)
    assert pl.read_parquet(target).equals(frame)
    assert pl.read_parquet_schema(target) == frame.schema  # not Categorical
    metadata = pq.read_metadata(target)
    groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sum(groups) == 3_000
    assert max(groups) <= 80  # 64 KiB of ~0.9 KB rows, not the footer's rows per batch


def test_an_empty_file_keeps_its_schema(tmp_path: Path) -> None:
    source, target = tmp_path / "empty.parquet", tmp_path / "out.parquet"
    pq.write_table(
        pa.table({"s": pa.array([], pa.string()), "n": pa.array([], pa.int64())}), source
    )
    rewrite_parquet_in_batches(source, target, LIMITS)
    assert pl.read_parquet_schema(target) == {"s": pl.String, "n": pl.Int64}
