"""Screening of hostile uploads before polars reads them, and the batched Parquet rewrite:
local files only, no Prefect, no S3."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ContentRejectedError
from tasks import content_screening
from tasks.content_screening import (
    ContentLimits,
    check_column_names,
    refuse_compressed,
    screen_csv,
    screen_parquet,
)
from tasks.formula_cells import add_formula_like
from tasks.parquet_rewrite import rewrite_parquet_in_batches
from tasks.profiling import profile_parquet
from tests.support.parquet_footer import declare_rows

LIMITS = ContentLimits(max_columns=10, max_row_bytes=64 * 1024, max_parquet_expansion=100)


def refusal(check: Callable[[], None]) -> str:
    with pytest.raises(ContentRejectedError) as caught:
        check()
    return caught.value.message


def test_compressed_content_is_named_and_refused() -> None:
    message = refusal(lambda: refuse_compressed(gzip.compress(b"a,b\n1,2\n")))
    assert message == "the file is gzip-compressed; upload the uncompressed CSV or Parquet"
    assert "zlib-compressed" in refusal(lambda: refuse_compressed(zlib.compress(b"a,b\n1,2\n")))


@pytest.mark.parametrize("text", [b"x^2,y\n1,2\n", b"BZh_code,name\n1,a\n", b"PKG,n\n1,2\n"])
def test_text_that_starts_like_a_magic_number_is_not_refused(text: bytes) -> None:
    refuse_compressed(text)  # `x^` is a zlib header, `BZh` starts bzip2, `PK` zip


def test_a_nul_byte_past_the_sniffed_head_is_refused_with_its_line(
    write: Callable[..., Path],
) -> None:
    content = b"id,text\n" + b"1,abc\n" * 20_000 + b"2,a\x00b\n"
    message = refusal(lambda: screen_csv(write(content), LIMITS))
    assert message.startswith("line 20,002 holds a NUL byte (byte offset 120,011)")


def test_utf16_text_is_scanned_in_units_not_refused_for_its_zero_bytes(
    write: Callable[..., Path],
) -> None:
    screen_csv(write("\ufeffid,name\n1,ann\n".encode("utf-16-le")), LIMITS)


def test_a_row_longer_than_the_limit_is_refused_with_the_line_it_starts_on(
    write: Callable[..., Path],
) -> None:
    content = b"id,text\n1,short\n2," + b"x" * 70_000 + b"\n3,short\n"
    message = refusal(lambda: screen_csv(write(content), LIMITS))
    assert message.startswith("the row starting at line 3 is longer than 65.5 KB")


def test_a_long_row_is_found_across_chunks(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content_screening, "SCAN_CHUNK_BYTES", 4096)
    content = b"id,text\n" + b"1,abc\n" * 5000 + b"2," + b"y" * 70_000 + b"\n"
    message = refusal(lambda: screen_csv(write(content), LIMITS))
    assert message.startswith("the row starting at line 5,002 is longer than")


def test_quoted_line_breaks_belong_to_their_row_and_cr_endings_end_rows(
    write: Callable[..., Path],
) -> None:
    quoted = b'id,text\n1,"' + b"line\n" * 20_000 + b'"\n'
    assert "line 2 is longer" in refusal(lambda: screen_csv(write(quoted), LIMITS))
    screen_csv(write(b"id,text\r" + b"1,abc\r" * 50_000), LIMITS)  # CR-only rows, each short


def test_a_header_wider_than_the_limit_is_refused(write: Callable[..., Path]) -> None:
    header = ";".join(f"c{i}" for i in range(11)).encode() + b"\n1\n"
    assert refusal(lambda: screen_csv(write(header), LIMITS)) == (
        "the header row has 11 columns; at most 10 are supported"
    )
    screen_csv(write(b'"a,b,c,d,e,f,g,h,i,j,k",b\n1,2\n'), LIMITS)  # quoted separators


def test_a_parquet_bomb_is_refused_from_its_footer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content_screening, "PARQUET_EXPANSION_FLOOR_BYTES", 1024**2)
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"v": np.zeros(2_000_000, dtype=np.int64)}), path)
    message = refusal(lambda: screen_parquet(path, LIMITS))
    assert "it looks like a decompression bomb" in message
    assert "(2,000,000 rows;" in message


def test_a_parquet_file_under_the_floor_passes_whatever_its_ratio(tmp_path: Path) -> None:
    path = tmp_path / "constant.parquet"
    pq.write_table(pa.table({"v": np.zeros(2_000_000, dtype=np.int64)}), path)
    screen_parquet(path, LIMITS)


def test_a_parquet_file_wider_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    pl.DataFrame({f"c{i}": [1] for i in range(11)}).write_parquet(path)
    assert refusal(lambda: screen_parquet(path, LIMITS)) == (
        "the file has 11 columns; at most 10 are supported"
    )


def test_the_batched_rewrite_keeps_every_row_and_bounds_row_groups(tmp_path: Path) -> None:
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame = pl.DataFrame({"id": range(600_000), "name": [f"n{i % 7}" for i in range(600_000)]})
    frame.write_parquet(source, row_group_size=600_000)
    rewrite_parquet_in_batches(source, target, LIMITS)
    assert pl.read_parquet(target).equals(frame)
    metadata = pq.read_metadata(target)
    assert metadata.num_row_groups > 1
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_formula_like_cells_are_counted_per_text_column(tmp_path: Path) -> None:
    path = tmp_path / "cells.parquet"
    pl.DataFrame(
        {
            "cell": ["=1+1", "+A1", "-2+3", "@SUM(A1)", "\tx", "-5", "+3.5", "plain", None],
            "n": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    ).write_parquet(path)
    profile = add_formula_like(profile_parquet(path), path)
    columns = {column["name"]: column for column in profile["columns"]}
    assert (columns["cell"]["formula_like"], columns["n"]["formula_like"]) == (5, 0)
    assert profile["formula_like_columns"] == ["cell"]


def test_a_footer_declaring_more_rows_than_its_columns_hold_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "lying.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), path)
    declare_rows(path, 5_000)
    assert refusal(lambda: screen_parquet(path, LIMITS)) == (
        "the Parquet file is damaged: its footer declares 5,000 rows in row group 1, "
        "whose column 'a' holds 100 values"
    )


def test_a_long_duplicate_name_is_quoted_cut_in_the_refusal() -> None:
    name = "n" * 100_000
    assert refusal(lambda: check_column_names([name, "b", name])) == (
        f"column name {'n' * 64 + chr(0x2026)!r} appears twice"
    )
