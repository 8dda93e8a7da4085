"""Sniffing, validating and converting uploaded files: local files only, no Prefect, no S3."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from core.errors import ContentRejectedError
from tasks.conversion import ConversionResult, convert_to_parquet, file_sha256, sniff_format


def rejection(source: Path, destination: Path, file_format: str = "csv") -> str:
    with pytest.raises(ContentRejectedError) as caught:
        convert_to_parquet(source, file_format, destination)
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == []
    return caught.value.message


def sniff_rejection(path: Path) -> str:
    with pytest.raises(ContentRejectedError) as caught:
        sniff_format(path)
    return caught.value.message


def parquet_bytes(tmp_path: Path, frame: pl.DataFrame, compression: str = "snappy") -> bytes:
    path = tmp_path / "made.parquet"
    frame.write_parquet(path, compression=compression)  # type: ignore[arg-type]
    return path.read_bytes()


# --- file_sha256 -----------------------------------------------------------------------------


def test_sha256_matches_hashlib_across_chunk_boundaries(write):
    content = bytes(range(256)) * (5 * 1024 * 4 + 3)  # ~5 MiB, not a multiple of 1 MiB
    assert file_sha256(write(content)) == hashlib.sha256(content).hexdigest()


# --- sniff_format ----------------------------------------------------------------------------


def test_sniff_recognises_csv_text_whatever_the_name(write):
    assert sniff_format(write(b"a,b\n1,2\n", name="data.parquet")) == "csv"


def test_sniff_recognises_parquet_by_its_magic_whatever_the_name(write, tmp_path):
    content = parquet_bytes(tmp_path, pl.DataFrame({"a": [1]}))
    assert sniff_format(write(content, name="data.csv")) == "parquet"


def test_sniff_rejects_an_empty_file(write):
    assert sniff_rejection(write(b"")) == "the file is empty"


def test_sniff_rejects_binary_content_naming_the_first_bad_byte(write):
    assert sniff_rejection(write(b"a,b\n1,\x002\n")) == (
        "the file is not UTF-8 text (nor Parquet): save it as CSV UTF-8 or Parquet "
        "(byte 0x00 at offset 6)"
    )


def test_sniff_takes_latin1_text_as_csv_to_transcode(write):
    # Issue 15: Windows-1252/Latin-1 text is transcoded (tasks.csv_encoding), not refused.
    assert sniff_format(write("name\ncafé\n".encode("latin-1"))) == "csv"


def test_sniff_takes_utf16_text_with_a_bom_as_csv_to_transcode(write):
    assert sniff_format(write("a,b\n1,2\n".encode("utf-16"))) == "csv"


def test_sniff_rejects_utf16_without_a_bom_naming_the_nul_byte(write):
    assert sniff_rejection(write("a,b\n1,2\n".encode("utf-16-le"))).endswith(
        "(byte 0x00 at offset 1)"
    )


def test_sniff_rejects_a_byte_windows_1252_leaves_undefined(write):
    assert sniff_rejection(write(b"name\ncaf\x81\n")) == (
        "the file is not UTF-8 text (nor Parquet): save it as CSV UTF-8 or Parquet "
        "(byte 0x81 at offset 8)"
    )


def test_sniff_accepts_a_character_cut_by_the_sniffed_window(write):
    content = b"a\n" + b"x" * (64 * 1024 - 3) + "é".encode() + b"\n"
    assert sniff_format(write(content)) == "csv"


def test_sniff_rejects_parquet_with_a_damaged_footer(write, tmp_path):
    content = bytearray(parquet_bytes(tmp_path, pl.DataFrame({"a": [1, 2, 3]})))
    content[-8:-4] = b"\xff\xff\xff\x7f"  # footer length now points outside the file
    assert sniff_rejection(write(bytes(content))) == (
        "the Parquet file is damaged: its footer cannot be read"
    )


def test_sniff_rejects_a_truncated_parquet_file(write, tmp_path):
    content = parquet_bytes(tmp_path, pl.DataFrame({"a": [1, 2, 3]}))
    assert sniff_rejection(write(content[: len(content) // 2])) == (
        "the Parquet file is damaged: its footer cannot be read"
    )


# --- CSV conversion: what is accepted --------------------------------------------------------


def test_csv_converts_with_inferred_types_and_reports_its_shape(write, destination):
    source = write(b"id,score,name,ok\n1,0.5,ann,true\n2,1.5,bob,false\n")
    result = convert_to_parquet(source, "csv", destination)
    assert result == ConversionResult(
        row_count=2, column_count=4, columns=["id", "score", "name", "ok"]
    )
    frame = pl.read_parquet(destination)
    assert frame.schema == {
        "id": pl.Int64,
        "score": pl.Float64,
        "name": pl.String,
        "ok": pl.Boolean,
    }
    assert frame.rows() == [(1, 0.5, "ann", True), (2, 1.5, "bob", False)]


def test_csv_output_is_zstd_compressed(write, destination):
    convert_to_parquet(write(b"a,b\n1,2\n"), "csv", destination)
    column = pq.ParquetFile(destination).metadata.row_group(0).column(0)
    assert column.compression == "ZSTD"


def test_csv_with_a_utf8_bom_keeps_the_first_column_name_clean(write, destination):
    result = convert_to_parquet(write(b"\xef\xbb\xbfid,name\n1,ann\n"), "csv", destination)
    assert result.columns == ["id", "name"]
    assert pl.read_parquet(destination).columns == ["id", "name"]


def test_quoted_fields_keep_embedded_commas_quotes_and_newlines(write, destination):
    source = write(b'id,text\n1,"a, b"\n2,"line one\nline two"\n3,"say ""hi"""\n')
    result = convert_to_parquet(source, "csv", destination)
    assert result.row_count == 3
    assert pl.read_parquet(destination)["text"].to_list() == [
        "a, b",
        "line one\nline two",
        'say "hi"',
    ]


def test_crlf_line_endings_are_accepted(write, destination):
    convert_to_parquet(write(b"a,b\r\n1,x\r\n"), "csv", destination)
    assert pl.read_parquet(destination).rows() == [(1, "x")]


def test_header_only_csv_is_an_empty_dataset(write, destination):
    result = convert_to_parquet(write(b"a,b,c\n"), "csv", destination)
    assert result == ConversionResult(row_count=0, column_count=3, columns=["a", "b", "c"])


def test_empty_fields_are_nulls(write, destination):
    convert_to_parquet(write(b"a,b\n1,\n,x\n"), "csv", destination)
    assert pl.read_parquet(destination).rows() == [(1, None), (None, "x")]


def test_blank_line_in_a_one_column_csv_is_an_empty_value(write, destination):
    result = convert_to_parquet(write(b"a\n1\n\n3\n"), "csv", destination)
    assert result.row_count == 3
    assert pl.read_parquet(destination)["a"].to_list() == [1, None, 3]


def test_a_column_that_stops_being_integer_after_the_inferred_rows_becomes_float(
    write, destination
):
    source = write(b"a\n" + b"1\n" * 20_000 + b"2.5\n")
    result = convert_to_parquet(source, "csv", destination)
    assert result.row_count == 20_001
    column = pl.read_parquet(destination)["a"]
    assert column.dtype == pl.Float64
    assert column[-1] == 2.5


def test_a_column_that_stops_being_numeric_after_the_inferred_rows_becomes_string(
    write, destination
):
    source = write(b"a,b\n" + b"1,2\n" * 20_000 + b"n/a,3\n")
    convert_to_parquet(source, "csv", destination)
    frame = pl.read_parquet(destination)
    assert frame.schema == {"a": pl.String, "b": pl.Int64}
    assert frame["a"][-1] == "n/a"


def test_two_million_rows_convert_with_the_right_count(tmp_path, destination):
    source = tmp_path / "big.csv"
    pl.DataFrame({"id": range(2_000_000)}).with_columns(
        (pl.col("id") % 7).alias("group"), (pl.col("id") * 0.5).alias("half")
    ).write_csv(source)
    result = convert_to_parquet(source, "csv", destination)
    assert result.row_count == 2_000_000
    assert pq.read_metadata(destination).num_rows == 2_000_000


def test_converting_twice_replaces_the_destination(write, destination):
    convert_to_parquet(write(b"a\n1\n2\n", name="one.csv"), "csv", destination)
    result = convert_to_parquet(write(b"a\n1\n", name="two.csv"), "csv", destination)
    assert result.row_count == 1
    assert pq.read_metadata(destination).num_rows == 1


# --- CSV conversion: what is rejected --------------------------------------------------------


def test_a_row_with_too_many_fields_is_named_by_its_data_row_number(write, destination):
    source = write(b"a,b,c\n" + b"1,2,3\n" * 1_203 + b"1,2,3,4\n" + b"1,2,3\n" * 10)
    assert rejection(source, destination) == "row 1,204 has 4 fields, expected 3"


def test_a_row_with_too_few_fields_is_named_by_its_data_row_number(write, destination):
    source = write(b"a,b,c\n1,2,3\n4,5\n6,7,8\n")
    assert rejection(source, destination) == "row 2 has 2 fields, expected 3"


def test_a_ragged_row_after_a_quoted_newline_counts_rows_not_lines(write, destination):
    source = write(b'a,b\n1,"x\ny"\n2\n')
    assert rejection(source, destination) == "row 2 has 1 field, expected 2"


def test_a_ragged_row_far_into_a_large_file_is_found(write, destination):
    source = write(b"a,b\n" + b"1,2\n" * 300_000 + b"1\n")
    assert rejection(source, destination) == "row 300,001 has 1 field, expected 2"


def test_a_short_row_beside_a_quoted_comma_is_named_by_its_row_number(write, destination):
    # The quoted comma is data, not a separator: it must not make up for the missing field.
    source = write(b'a,b,c\n1,2,3\n4,"x,y"\n5,6,7\n')
    assert rejection(source, destination) == "row 2 has 2 fields, expected 3"


def test_quotes_split_across_read_chunks_are_followed_by_the_structure_check(
    write, destination, monkeypatch
):
    monkeypatch.setattr("tasks.csv_conversion.STRUCTURE_CHUNK_BYTES", 3)
    source = write(b'a,b\n1,"x,\n""y"",z"\n2,","\n')
    assert convert_to_parquet(source, "csv", destination).row_count == 2
    assert pl.read_parquet(destination)["b"].to_list() == ['x,\n"y",z', ","]


def test_a_short_row_after_quotes_split_across_read_chunks_is_named(
    write, destination, monkeypatch
):
    monkeypatch.setattr("tasks.csv_conversion.STRUCTURE_CHUNK_BYTES", 3)
    source = write(b'a,b\n1,"x,\n""y"""\n2\n')
    assert rejection(source, destination) == "row 2 has 1 field, expected 2"


def test_a_short_row_in_a_large_file_is_named_and_leaves_no_file(write, destination):
    source = write(b"a,b,c\n" + b'1,"x,y",3\n' * 400_000 + b"1,2\n" + b"1,2,3\n" * 1_000)
    assert rejection(source, destination) == "row 400,001 has 2 fields, expected 3"


def test_a_blank_line_in_a_several_column_csv_is_rejected(write, destination):
    source = write(b"a,b\n1,2\n\n3,4\n")
    assert rejection(source, destination) == "row 2 is blank, expected 2 fields"


def test_a_duplicate_column_name_is_rejected(write, destination):
    source = write(b"x,y,x\n1,2,3\n")
    assert rejection(source, destination) == "column name 'x' appears twice"


def test_an_empty_column_name_is_rejected_with_its_position(write, destination):
    source = write(b"a,b,,d\n1,2,3,4\n")
    assert rejection(source, destination) == "column 3 has no name"


def test_a_blank_first_line_is_rejected(write, destination):
    assert rejection(write(b"\na,b\n"), destination) == (
        "the first line is blank: it must be the header row"
    )


def test_an_empty_csv_is_rejected(write, destination):
    assert rejection(write(b""), destination) == "the file is empty"


def test_invalid_utf8_past_the_sniffed_window_names_its_line(write, destination):
    # UTF-8 from its first non-ASCII character ("zoë"), so a later Latin-1 byte is damage.
    source = write("id,name\n1,zoë\n".encode() + b"1,ann\n" * 20_000 + "2,café\n".encode("latin-1"))
    assert rejection(source, destination) == (
        "line 20,003 is not valid UTF-8 (byte 0xe9 at offset 120,020, column 6): "
        "save the file as CSV UTF-8"
    )


def test_an_unterminated_quote_is_rejected_with_its_row(write, destination):
    source = write(b'a,b\n1,2\n3,"four\n')
    assert rejection(source, destination) == (
        "row 2 is malformed (unexpected end of data): check its quotes"
    )


def test_an_unknown_format_is_a_programming_error(write, destination):
    with pytest.raises(ValueError, match="file_format must be 'csv' or 'parquet'"):
        convert_to_parquet(write(b"a\n1\n"), "xlsx", destination)


# --- Parquet input ---------------------------------------------------------------------------


def test_parquet_input_is_rewritten_as_zstd(write, tmp_path, destination):
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    source = write(parquet_bytes(tmp_path, frame, compression="snappy"), name="in.parquet")
    assert pq.ParquetFile(source).metadata.row_group(0).column(0).compression == "SNAPPY"

    result = convert_to_parquet(source, "parquet", destination)

    assert result == ConversionResult(row_count=3, column_count=2, columns=["a", "b"])
    assert pq.ParquetFile(destination).metadata.row_group(0).column(0).compression == "ZSTD"
    assert pl.read_parquet(destination).equals(frame)


def test_parquet_input_with_an_empty_column_name_is_rejected(write, tmp_path, destination):
    source = write(parquet_bytes(tmp_path, pl.DataFrame({"a": [1], "": [2]})), "in.parquet")
    assert rejection(source, destination, "parquet") == "column 2 has no name"


def test_damaged_parquet_input_is_rejected(write, destination):
    source = write(b"PAR1 not really parquet PAR1", name="in.parquet")
    assert rejection(source, destination, "parquet") == (
        "the Parquet file is damaged: its footer cannot be read"
    )


def test_a_column_is_widened_again_when_a_later_value_fits_neither_type(write, destination):
    source = write(b"a,b\n" + b"1,x\n" * 20_000 + b"1.5,x\n" + b"2,x\n" * 20_000 + b"n/a,x\n")
    result = convert_to_parquet(source, "csv", destination)
    assert result.row_count == 40_002
    assert pl.read_parquet(destination).schema == {"a": pl.String, "b": pl.String}
