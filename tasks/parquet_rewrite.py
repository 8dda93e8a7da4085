"""Rewrites an uploaded Parquet file as zstd Parquet in batches of bounded size, measuring what
it decodes and refusing a decompression bomb or an oversized row as soon as one shows.

The footer's sizes cannot be trusted (`tasks.content_screening` checks them, but a file may
understate them, and a dictionary-encoded column declares its dictionary once: 1,000,000 rows of
one 1 MB string fit in 3 KB and claim 1 MB). So the rewrite counts the bytes each row decodes
to before decoding it: text columns are read as dictionaries (their indices and one copy of each
distinct value), each row's size is the sum of its values' lengths and widths, and the running
total is held against `max_parquet_expansion` times the file's size (never below
`PARQUET_EXPANSION_FLOOR_BYTES`), each row against `max_row_bytes`.

Memory follows the batch, not the row group (polars' `sink_parquet` decodes a row group whole):
reading starts at `READ_START_ROWS` rows and grows while a batch stays under
`BATCH_TARGET_BYTES` decoded; batches are gathered into output row groups of about that size and
decoded only then. Each output row group passes through polars (`from_arrow`/`to_arrow`), so the
stored types are the ones polars reads back, and a type polars cannot hold fails here, at
conversion, as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.errors import ContentRejectedError
from tasks import content_screening
from tasks.content_screening import ContentLimits, byte_size

# Decoded bytes aimed at per output row group, and the bounds on rows.
BATCH_TARGET_BYTES = 64 * 1024**2
MAX_BATCH_ROWS = 262_144  # polars' own row group size
# Rows of the first batch read (16 rows of the largest allowed row: 256 MiB), and the factor a
# batch may grow by from one read to the next.
READ_START_ROWS = 16
READ_GROWTH = 4
READ_BUFFER_BYTES = 1024**2


def rewrite_parquet_in_batches(source: Path, destination: Path, limits: ContentLimits) -> None:
    """Streams `source` into zstd Parquet at `destination`, refusing it (ContentRejectedError)
    once it decodes to more than its expansion limit or a row exceeds `max_row_bytes`."""
    schema = pq.read_schema(source)
    text = [field.name for field in schema if _is_text(field.type)]
    parquet = pq.ParquetFile(
        source, buffer_size=READ_BUFFER_BYTES, pre_buffer=False, read_dictionary=text
    )
    size = source.stat().st_size
    allowed = max(
        content_screening.PARQUET_EXPANSION_FLOOR_BYTES, limits.max_parquet_expansion * size
    )
    output = _RowGroupWriter(destination)
    decoded = rows_read = 0
    batch_rows = READ_START_ROWS
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=False):
            row_bytes = decoded_row_bytes(batch)
            largest = int(row_bytes.max()) if len(row_bytes) else 0
            if largest > limits.max_row_bytes:
                row = rows_read + int(np.argmax(row_bytes)) + 1
                raise ContentRejectedError(
                    f"row {row:,} of the Parquet file holds {byte_size(largest)} once decoded, "
                    f"more than {byte_size(limits.max_row_bytes)}, the most one row may hold"
                )
            decoded += int(row_bytes.sum())
            rows_read += batch.num_rows
            if decoded > allowed:
                raise ContentRejectedError(
                    f"the Parquet file would expand from {byte_size(size)} to more than "
                    f"{byte_size(decoded)} once decoded (after {rows_read:,} of its "
                    f"{parquet.metadata.num_rows:,} rows; at most "
                    f"{limits.max_parquet_expansion:,} times its size is accepted): it looks "
                    "like a decompression bomb"
                )
            output.add(batch, row_bytes)
            grown = min(batch_rows * READ_GROWTH, BATCH_TARGET_BYTES // max(largest, 1))
            if max(1, min(MAX_BATCH_ROWS, grown)) != batch_rows:
                batch_rows = max(1, min(MAX_BATCH_ROWS, grown))
                parquet.reader.set_batch_size(batch_rows)  # applies from the next batch on
        output.close(schema)
    except BaseException:
        output.abandon()
        raise


def decoded_row_bytes(batch: pa.RecordBatch) -> np.ndarray:
    """Each row's size once decoded: the lengths of its text and binary values (a dictionary's
    values counted for every row that refers to them), plus their offsets and the widths of
    fixed-size values; a nested column's bytes are spread evenly over its rows."""
    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        sizes += _column_row_bytes(column)
    return sizes


def _column_row_bytes(column: pa.Array) -> np.ndarray | int:
    kind = column.type
    rows = len(column)
    if pa.types.is_dictionary(kind):
        lengths = pc.binary_length(column.dictionary).fill_null(0)
        per_row = pc.take(lengths, column.indices).fill_null(0)
        return _int64(per_row) + _offset_bytes(kind.value_type)
    if _is_text(kind):
        lengths = pc.binary_length(column).fill_null(0)
        return _int64(lengths) + _offset_bytes(kind)
    try:
        return max(1, int(kind.bit_width) // 8)
    except ValueError:  # nested or otherwise variable: no width of its own
        return -(-int(column.nbytes) // max(rows, 1))


def _int64(values: pa.Array) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)


def _offset_bytes(kind: pa.DataType) -> int:
    return 8 if pa.types.is_large_string(kind) or pa.types.is_large_binary(kind) else 4


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


class _RowGroupWriter:
    """Gathers read batches (dictionaries still encoded) into output row groups of about
    `BATCH_TARGET_BYTES` decoded and at most `MAX_BATCH_ROWS` rows, decoding each only when it
    is written; a batch larger than that is written in slices."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        self.writer: pq.ParquetWriter | None = None
        self.pending: list[pa.RecordBatch] = []
        self.pending_bytes = self.pending_rows = 0

    def add(self, batch: pa.RecordBatch, row_bytes: np.ndarray) -> None:
        total = int(row_bytes.sum())
        if (
            self.pending_bytes + total <= BATCH_TARGET_BYTES
            and self.pending_rows + batch.num_rows <= MAX_BATCH_ROWS
        ):  # the common case: the whole batch fits
            self.pending.append(batch)
            self.pending_bytes += total
            self.pending_rows += batch.num_rows
            if self.pending_rows >= MAX_BATCH_ROWS:
                self._flush()
            return
        start = 0
        ends = np.cumsum(row_bytes)
        while start < batch.num_rows:
            room_bytes = BATCH_TARGET_BYTES - self.pending_bytes
            room_rows = MAX_BATCH_ROWS - self.pending_rows
            before = int(ends[start - 1]) if start else 0
            fitting = int(np.searchsorted(ends, before + room_bytes, side="right")) - start
            take = min(batch.num_rows - start, room_rows, fitting)
            if take <= 0 and not self.pending:
                take = 1  # one row larger than the target: a row group of its own
            if take > 0:
                self.pending.append(batch.slice(start, take))
                self.pending_bytes += int(ends[start + take - 1]) - before
                self.pending_rows += take
                start += take
            if start < batch.num_rows or self.pending_rows >= MAX_BATCH_ROWS:
                self._flush()

    def close(self, schema: pa.Schema) -> None:
        self._flush()
        if self.writer is None:  # no rows: the schema alone
            table = _through_polars(schema.empty_table())
            self.writer = pq.ParquetWriter(self.destination, table.schema, compression="zstd")
            self.writer.write_table(table)
        self.writer.close()

    def abandon(self) -> None:
        self.pending = []
        if self.writer is not None:
            self.writer.close()

    def _flush(self) -> None:
        if not self.pending:
            return
        table = _through_polars(_decoded(pa.Table.from_batches(self.pending)))
        self.pending, self.pending_bytes, self.pending_rows = [], 0, 0
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.destination, table.schema, compression="zstd")
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary-read text columns back to their plain type (polars would make them
    Categorical)."""
    columns = [
        column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _through_polars(table: pa.Table) -> pa.Table:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.to_arrow()
