"""Real CSV dialects: delimiters, decimal commas, encodings and line endings, and the dialect
each conversion reports (tasks/csv_dialect.py, tasks/csv_encoding.py)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from core.errors import ContentRejectedError
from tasks.conversion import convert_to_parquet

MiB = 1024**2


def rejection(source: Path, destination: Path) -> str:
    with pytest.raises(ContentRejectedError) as caught:
        convert_to_parquet(source, "csv", destination)
    assert list(destination.parent.iterdir()) == []  # no Parquet, no transcoded copy
    return caught.value.message


def dialect(
    encoding: str = "utf-8", delimiter: str = ",", decimal: str = ".", line_ending: str = "LF"
) -> dict[str, str]:
    return {
        "encoding": encoding,
        "delimiter": delimiter,
        "decimal": decimal,
        "line_ending": line_ending,
    }


def test_a_plain_csv_reports_its_dialect(write, destination):
    result = convert_to_parquet(write(b"a,b\n1,2\n"), "csv", destination)
    assert result.dialect == dialect()


def test_parquet_input_has_no_dialect(write, tmp_path, destination):
    source = tmp_path / "in.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(source)
    assert convert_to_parquet(source, "parquet", destination).dialect is None


def test_an_excel_export_of_europe_becomes_numbers(write, destination):
    # Excel's "CSV" in much of Europe: semicolons, decimal commas, Windows-1252, CRLF.
    source = write("name;price;qty\r\nÄpfel;1,99;3\r\nBirnen;0,5;12\r\n".encode("cp1252"))
    result = convert_to_parquet(source, "csv", destination)
    frame = pl.read_parquet(destination)
    assert frame.schema == {"name": pl.String, "price": pl.Float64, "qty": pl.Int64}
    assert frame.rows() == [("Äpfel", 1.99, 3), ("Birnen", 0.5, 12)]
    assert result.dialect == dialect("windows-1252", ";", ",", "CRLF")
    assert list(destination.parent.iterdir()) == [destination]  # the UTF-8 copy is gone


def test_a_semicolon_file_with_decimal_points_keeps_them(write, destination):
    result = convert_to_parquet(write(b"a;b\n1.5;x\n2.25;y\n"), "csv", destination)
    assert pl.read_parquet(destination)["a"].to_list() == [1.5, 2.25]
    assert result.dialect == dialect(delimiter=";")


def test_a_comma_file_never_takes_a_decimal_comma(write, destination):
    result = convert_to_parquet(write(b'a,b\n"1,5",x\n'), "csv", destination)
    assert pl.read_parquet(destination)["a"].to_list() == ["1,5"]
    assert result.dialect == dialect()


@pytest.mark.parametrize(("delimiter", "name"), [("\t", "tab"), ("|", "pipe"), (";", "semicolon")])
def test_tab_pipe_and_semicolon_delimiters_are_detected(write, destination, delimiter, name):
    rows = [["id", "city", "note"], ["1", "Oslo", "a, b"], ["2", "Lima", "c"]]
    text = "".join(delimiter.join(row) + "\n" for row in rows)
    result = convert_to_parquet(write(text.encode(), name=f"{name}.csv"), "csv", destination)
    assert result.columns == ["id", "city", "note"]
    assert pl.read_parquet(destination).rows() == [(1, "Oslo", "a, b"), (2, "Lima", "c")]
    assert result.dialect == dialect(delimiter=delimiter)


def test_a_tsv_file_with_commas_in_its_values_is_split_on_tabs(write, destination):
    source = write(b"name\tremark\nann\tyes, twice\nbob\tno, never\n", name="data.tsv")
    assert convert_to_parquet(source, "csv", destination).columns == ["name", "remark"]


def test_semicolons_inside_quotes_do_not_make_a_comma_file_semicolon(write, destination):
    result = convert_to_parquet(write(b'a,b\n"x;y;z",1\n"p;q;r",2\n'), "csv", destination)
    assert result.dialect == dialect()
    assert pl.read_parquet(destination)["a"].to_list() == ["x;y;z", "p;q;r"]


def test_a_ragged_row_of_a_semicolon_file_is_named_with_its_field_count(write, destination):
    source = write(b"a;b;c\n1;2;3\n4;5;6\n7;8;9\n1;2\n")
    assert rejection(source, destination) == "row 4 has 2 fields, expected 3"


def test_a_one_column_file_is_read_whole(write, destination):
    result = convert_to_parquet(write(b"text\nhello; world\nok | fine\n"), "csv", destination)
    assert pl.read_parquet(destination)["text"].to_list() == ["hello; world", "ok | fine"]
    assert result.dialect == dialect()


# --- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_bom_are_transcoded(write, destination, codec):
    text = "name,city\nZoë,Kraków\n"
    content = text.encode(codec) if codec != "utf-16-be" else b"\xfe\xff" + text.encode(codec)
    result = convert_to_parquet(write(content), "csv", destination)
    assert pl.read_parquet(destination).rows() == [("Zoë", "Kraków")]
    assert result.dialect == dialect(codec.removesuffix("-be"))


def test_utf16_cut_in_the_middle_of_a_character_is_refused_with_its_offset(write, destination):
    content = "a,b\n1,2\n".encode("utf-16") + b"x"  # 19 bytes: one byte of a character
    assert rejection(write(content), destination) == (
        "the file is not valid UTF-16 text (byte 0x78 at offset 18): "
        'save it as "CSV UTF-8" (in Excel: File > Save As > CSV UTF-8)'
    )


def test_a_utf8_bom_is_reported(write, destination):
    result = convert_to_parquet(write(b"\xef\xbb\xbfa\n1\n"), "csv", destination)
    assert result.dialect == dialect("utf-8-sig")


def test_latin1_whose_first_accent_is_past_a_mebibyte_is_transcoded(write, destination):
    # The usual case: Excel's Windows-1252 export of a long list whose first "é" is far down.
    source = write(b"id,name\n" + b"1,ann\n" * 300_000 + "2,café\n".encode("latin-1"))
    result = convert_to_parquet(source, "csv", destination)
    assert pl.read_parquet(destination)["name"][-1] == "café"
    assert result.dialect == dialect("windows-1252")


def test_invalid_utf8_first_at_10_mb_fails_naming_its_byte_offset(write, destination):
    # UTF-8 from its first accent on; a byte that is no UTF-8 at 10 MB is damage, not a guess.
    head = "id,name\n1,Zoë\n".encode()
    filler = b"2,ann\n" * ((10 * MiB - len(head)) // 6)
    prefix = head + filler
    source = write(prefix + b"3,\xff\n4,bob\n")
    offset = len(prefix) + 2
    line = 2 + len(filler) // 6 + 1
    assert rejection(source, destination) == (
        f"line {line:,} is not valid UTF-8 (byte 0xff at offset {offset:,}, column 3): "
        "save the file as CSV UTF-8"
    )


def test_a_byte_windows_1252_leaves_undefined_fails_naming_its_offset(write, destination):
    prefix = b"id,name\n" + b"1,ann\n" * ((10 * MiB) // 6) + b"2,"
    source = write(prefix + b"\x81\n")
    assert rejection(source, destination) == (
        f"the file is not valid Windows-1252 text (byte 0x81 at offset {len(prefix):,}): "
        'save it as "CSV UTF-8" (in Excel: File > Save As > CSV UTF-8)'
    )


# --- line endings ----------------------------------------------------------------------------


def test_cr_only_line_endings_are_read_as_rows(write, destination):
    # Classic Mac OS; a CR inside quotes stays in the value.
    source = write(b'a,b\r1,x\r2,"p\rq"\r3,\r')
    result = convert_to_parquet(source, "csv", destination)
    assert pl.read_parquet(destination).rows() == [(1, "x"), (2, "p\rq"), (3, None)]
    assert result.dialect == dialect(line_ending="CR")


def test_a_ragged_row_of_a_cr_only_file_is_named(write, destination):
    assert rejection(write(b"a,b\r1,2\r3\r"), destination) == "row 2 has 1 field, expected 2"


def test_crlf_is_reported(write, destination):
    result = convert_to_parquet(write(b"a,b\r\n1,2\r\n"), "csv", destination)
    assert result.dialect == dialect(line_ending="CRLF")


# --- wide files: a header longer than 64 KiB ---------------------------------------------------

WIDE_COLUMNS = 10_000


def wide_header(delimiter: str) -> str:
    return delimiter.join(f"measurement_{index:05d}" for index in range(WIDE_COLUMNS))


def test_a_wide_semicolon_files_decimal_commas_become_numbers(write, destination):
    # The header alone is ~190 KB: the dialect sample must reach past it into data rows.
    rows = [";".join(f"{row},5" for _ in range(WIDE_COLUMNS)) for row in range(3)]
    source = write("\r\n".join([wide_header(";"), *rows, ""]).encode())
    assert source.stat().st_size > 3 * 64 * 1024
    result = convert_to_parquet(source, "csv", destination)
    assert result.dialect == dialect(delimiter=";", decimal=",", line_ending="CRLF")
    frame = pl.read_parquet(destination)
    assert frame.width == WIDE_COLUMNS
    assert set(frame.schema.values()) == {pl.Float64}
    assert frame["measurement_09999"].to_list() == [0.5, 1.5, 2.5]


def test_a_wide_cr_only_file_is_read_as_rows(write, destination):
    rows = [",".join(str(row) for _ in range(WIDE_COLUMNS)) for row in range(3)]
    source = write("\r".join([wide_header(","), *rows, ""]).encode())
    result = convert_to_parquet(source, "csv", destination)
    assert result.dialect == dialect(line_ending="CR")
    frame = pl.read_parquet(destination)
    assert frame.shape == (3, WIDE_COLUMNS)
    assert frame["measurement_09999"].to_list() == [0, 1, 2]


def test_the_line_ending_is_the_first_row_end_outside_quotes(write, destination):
    # The header's quoted name holds line feeds; its rows end with carriage returns.
    source = write(b'a,"b\nc\nd"\r1,2\r3,4\r')
    result = convert_to_parquet(source, "csv", destination)
    assert result.dialect == dialect(line_ending="CR")
    assert pl.read_parquet(destination).rows() == [(1, 2), (3, 4)]
