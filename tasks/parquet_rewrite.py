"""Rewrites an uploaded Parquet file as zstd Parquet in batches of bounded size.

polars' `scan_parquet(...).sink_parquet(...)` decodes a whole row group at a time: a few KB that
declare one row group of a billion equal values would need gigabytes. pyarrow's batch reader
decodes page by page, `batch_size` rows at a time, so memory follows the batch, not the row
group. Each batch passes through polars (`from_arrow`/`to_arrow`), so the stored types are the
ones polars reads back, and a type polars cannot hold fails here, at conversion, as before.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

# Decoded bytes aimed at per batch (one row group of the output each), and the bounds on rows.
BATCH_TARGET_BYTES = 64 * 1024**2
MIN_BATCH_ROWS = 1_024
MAX_BATCH_ROWS = 262_144  # polars' own row group size
READ_BUFFER_BYTES = 1024**2


def rewrite_parquet_in_batches(source: Path, destination: Path) -> None:
    """Streams `source` into zstd Parquet at `destination`, one output row group per batch."""
    parquet = pq.ParquetFile(source, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
    batch_rows = _batch_rows(parquet.metadata)
    writer: pq.ParquetWriter | None = None
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=False):
            table = _through_polars(pa.Table.from_batches([batch]))
            if writer is None:
                writer = pq.ParquetWriter(destination, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=batch_rows)
        if writer is None:  # no rows: the schema alone
            table = _through_polars(parquet.schema_arrow.empty_table())
            writer = pq.ParquetWriter(destination, table.schema, compression="zstd")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _through_polars(table: pa.Table) -> pa.Table:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.to_arrow()


def _batch_rows(metadata: pq.FileMetaData) -> int:
    """Rows per batch such that one batch decodes to about BATCH_TARGET_BYTES."""
    if metadata.num_rows == 0 or metadata.num_row_groups == 0:
        return MAX_BATCH_ROWS
    decoded = sum(
        metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups)
    )
    per_row = max(1, decoded // max(metadata.num_rows, 1), 8 * metadata.num_columns)
    return int(max(MIN_BATCH_ROWS, min(MAX_BATCH_ROWS, BATCH_TARGET_BYTES // per_row)))
