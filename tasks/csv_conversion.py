"""CSV -> zstd Parquet in bounded memory: the encoding transcoded first if it is not UTF-8,
then polars' streaming reader with the detected dialect, every column read as text and cast to
the type its values are written in; a count of separators beside it proves every row has the
header's field count. The rules: `tasks/conversion.py`'s docstring and docs/spec.md §4."""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import polars.selectors as cs
import pyarrow.parquet as pq

from core.errors import ContentRejectedError
from tasks.content_screening import check_column_names
from tasks.csv_dialect import CsvDialect, read_layout
from tasks.csv_encoding import Encoding, detect_encoding, transcode_to_utf8
from tasks.csv_types import ColumnType, fit_types, guess_types, typed_columns

MiB = 1024**2
# Rows read to guess column types; a later value that does not fit makes one streaming pass
# decide the types over the whole file, and the conversion restarts once (see `_sink_csv`).
INFER_SCHEMA_ROWS = 10_000
# ... but no more than this many values (a 20,000-column file's sample is 100 rows), so the sample
# held in memory stays small whatever the width.
INFER_SCHEMA_CELLS = 2_000_000
# Past this many columns the types are decided over the whole file before converting (one
# streaming pass, in long form) and the casts are unguarded: a guard per column held 400 MB
# more at 20,000 columns (1,000 rows: 1.1 GB in all, now about 0.8 GB).
EXACT_TYPES_PAST_COLUMNS = 1_000
# Chunks of the structure pass (`_csv_structure`); its arrays take about 5x this.
STRUCTURE_CHUNK_BYTES = 4 * MiB
QUOTE_BYTE = ord('"')


# --- CSV --------------------------------------------------------------------------------------


def convert_csv(source: Path, destination: Path) -> CsvDialect:
    if source.stat().st_size == 0:
        raise ContentRejectedError("the file is empty")
    encoding = detect_encoding(source)
    if encoding in ("utf-8", "utf-8-sig"):
        return _convert_utf8_csv(source, destination, encoding)
    # Beside the destination (the run's work directory), removed whatever happens.
    utf8_copy = destination.with_name(destination.name + ".utf8.csv")
    try:
        transcode_to_utf8(source, encoding, utf8_copy)
        return _convert_utf8_csv(utf8_copy, destination, encoding)
    finally:
        utf8_copy.unlink(missing_ok=True)


def _convert_utf8_csv(source: Path, destination: Path, encoding: Encoding) -> CsvDialect:
    dialect = read_layout(source, encoding)
    names = _csv_header(source, dialect)
    check_column_names(names)
    # polars refuses a row with too many fields but pads a short one (or a blank line) with
    # nulls. As no row it accepts has more fields than the header, all have exactly as many
    # if and only if the file holds (columns - 1) separators outside quotes per row, header
    # included: a count of bytes that runs beside the conversion (numpy releases the GIL)
    # instead of a second CSV parse. Only a disagreement costs the exact pass.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-structure") as pool:
        structure = pool.submit(_csv_structure, source, ord(dialect.delimiter))
        try:
            _sink_csv(source, destination, names, dialect)
        except pl.exceptions.PolarsError as exc:
            raise _csv_rejection(source, len(names), exc, dialect) from exc
        separators, quote_open = structure.result()
    rows = pq.read_metadata(destination).num_rows
    if quote_open or separators != (len(names) - 1) * (rows + 1):
        # Only now the slow exact pass, to name the row.
        problem, _ = _inspect_csv_exactly(source, len(names), dialect)
        raise ContentRejectedError(
            problem
            or "the CSV file cannot be read consistently: "
            + (
                "a quoted field is still open at the end of the file"
                if quote_open
                else f"{rows:,} rows of {len(names)} fields need "
                f"{(len(names) - 1) * (rows + 1):,} separators, it has {separators:,}"
            )
        )
    return dialect


def _csv_header(source: Path, dialect: CsvDialect) -> list[str]:
    try:
        # utf-8-sig drops a BOM, so the first column's name never starts with U+FEFF.
        with source.open(encoding="utf-8-sig", newline="") as file:
            header = next(csv.reader(file, strict=True, delimiter=dialect.delimiter), None)
    except UnicodeDecodeError as exc:
        raise ContentRejectedError(_describe_utf8_problem(source) or str(exc)) from exc
    except csv.Error as exc:
        raise ContentRejectedError(f"the header row cannot be read: {exc}") from exc
    if not header:
        raise ContentRejectedError("the first line is blank: it must be the header row")
    return header


def _csv_structure(source: Path, separator_byte: int) -> tuple[int, bool]:
    """The field separators outside quoted fields (header included), and whether the file
    ends inside a quoted field, counted in one vectorised pass over the bytes.

    A byte is inside a quoted field when an odd number of quotes precede it (a doubled quote
    inside a field toggles twice, so it changes nothing). No fields are parsed: this is about
    a tenth of the cost of parsing the file again.
    """
    # Imported here, on the structure thread, where its ~0.1 s overlaps the conversion.
    import numpy as np

    separators = 0
    inside = False
    with source.open("rb") as file:
        while chunk := file.read(STRUCTURE_CHUNK_BYTES):
            data = np.frombuffer(chunk, dtype=np.uint8)
            is_quote = data == QUOTE_BYTE
            quotes = int(np.count_nonzero(is_quote))
            if quotes == 0:
                if not inside:
                    separators += int(np.count_nonzero(data == separator_byte))
                continue
            # uint8 wraps at 256, which keeps the parity and the memory small.
            parity = np.cumsum(is_quote, dtype=np.uint8)
            parity &= 1
            outside = parity == int(inside)
            separators += int(np.count_nonzero((data == separator_byte) & outside))
            inside ^= quotes % 2 == 1
    return separators, inside


def _sink_csv(source: Path, destination: Path, names: list[str], dialect: CsvDialect) -> None:
    """polars' streaming CSV -> Parquet, every column read as text and cast to its type.

    Types are guessed from the first 10,000 rows, fewer past 200 columns (`tasks.csv_types`).
    A later value that does not fit its column's guess (an integer column holding `2.5`, `n/a`
    or `007` at row 50,000) stops the conversion instead of being changed; one streaming pass
    of aggregates then decides every guessed column's type over the whole file, and the
    conversion restarts once. (polars' own inference reads `08123` as 8123, and
    `infer_schema_length=None` needed 1.6 GB of memory
    on a 1 GB CSV.)
    """

    def scan() -> pl.LazyFrame:
        return pl.scan_csv(
            source,
            separator=dialect.delimiter,
            eol_char="\r" if dialect.line_ending == "CR" else "\n",
            infer_schema=False,
            encoding="utf8",
            # polars drops a BOM too; the header is already checked, so take its names.
            new_columns=names,
        )

    wide = len(names) > EXACT_TYPES_PAST_COLUMNS
    if wide:
        types = guess_types(scan(), names, dialect.decimal, streaming=True)
    else:
        sample_rows = max(1, min(INFER_SCHEMA_ROWS, INFER_SCHEMA_CELLS // len(names)))
        types = guess_types(scan().head(sample_rows), names, dialect.decimal)
    for attempt in range(2):
        try:
            by_type: dict[ColumnType, list[str]] = {}
            for name in names:
                by_type.setdefault(types[name], []).append(name)
            scan().select(
                [
                    typed_columns(group, kind, dialect.decimal, guarded=not wide)
                    for kind, group in by_type.items()
                ]
            ).select(cs.by_name(names)).sink_parquet(destination, compression="zstd")
            return
        except pl.exceptions.InvalidOperationError:
            destination.unlink(missing_ok=True)
            guessed = {name: kind for name, kind in types.items() if kind != "string"}
            fitted = fit_types(scan(), guessed, dialect.decimal)
            if attempt or fitted == guessed:
                raise
            types.update(fitted)
        except pl.exceptions.PolarsError:
            destination.unlink(missing_ok=True)
            raise


def _csv_rejection(
    source: Path, expected_fields: int, exc: Exception, dialect: CsvDialect
) -> ContentRejectedError:
    message = str(exc)
    detail = None
    if "utf-8" in message.lower() or "utf8" in message.lower():
        detail = _describe_utf8_problem(source)
    detail = detail or _inspect_csv_exactly(source, expected_fields, dialect)[0]
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return ContentRejectedError(detail or f"the CSV file cannot be read: {first_line}")


def _inspect_csv_exactly(
    source: Path, expected_fields: int, dialect: CsvDialect
) -> tuple[str | None, int]:
    """The first structural problem as a sentence (or None) and the data rows read.

    Exact but pure Python (about 10 s a GB): it runs only after a fast parser has failed.
    """
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    row_number = 0
    try:
        with source.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file, strict=True, delimiter=dialect.delimiter)
            next(reader, None)
            for row_number, row in enumerate(reader, start=1):
                if len(row) == expected_fields or (not row and expected_fields == 1):
                    continue
                if not row:
                    problem = f"row {row_number:,} is blank, expected {expected_fields} fields"
                else:
                    fields = f"{len(row)} field" + ("" if len(row) == 1 else "s")
                    problem = f"row {row_number:,} has {fields}, expected {expected_fields}"
                return problem, row_number
    except UnicodeDecodeError:
        return _describe_utf8_problem(source), row_number
    except csv.Error as exc:
        return f"row {row_number + 1:,} is malformed ({exc}): check its quotes", row_number
    finally:
        csv.field_size_limit(previous_limit)
    return None, row_number


def _describe_utf8_problem(source: Path) -> str | None:
    """The first line (1-based, header included) that is not UTF-8, with the byte's offset in
    the file, or None. A file UTF-8 so far and not from there on is damaged, not re-guessed."""
    offset = 0
    with source.open("rb") as file:
        for line_number, line in enumerate(file, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"line {line_number:,} is not valid UTF-8 "
                    f"(byte 0x{line[exc.start]:02x} at offset {offset + exc.start:,}, "
                    f"column {exc.start + 1}): save the file as CSV UTF-8"
                )
            offset += len(line)
    return None
