"""Real CSV dialects through the ingest-dataset flow: an Excel export of Europe ends ready with
numbers, and the version's profile records how the file was read."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flows.ingest_dataset import ingest_dataset
from tests.support.ingestions import Ingestion, MakeIngestion
from tests.support.stores import default_store_only

# Excel's "CSV (semicolon delimited)" where the comma is the decimal mark: Windows-1252, CRLF.
EXCEL_EUROPE = "name;price;qty\r\nÄpfel;1,99;3\r\nBirnen;0,5;12\r\n".encode("cp1252")
EXCEL_DIALECT = {
    "encoding": "windows-1252",
    "delimiter": ";",
    "decimal": ",",
    "line_ending": "CRLF",
}


def stored_frame(ingestion: Ingestion, tmp_path: Path) -> pl.DataFrame:
    body = ingestion.store.client.get_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key
    )["Body"].read()
    (tmp_path / "stored.parquet").write_bytes(body)
    return pl.read_parquet(tmp_path / "stored.parquet")


@default_store_only
def test_a_semicolon_windows_1252_file_ends_ready_with_numbers(
    confirmed: MakeIngestion, tmp_path: Path
) -> None:
    ingestion = confirmed(EXCEL_EUROPE)
    assert ingest_dataset(ingestion.version_id) == "ready"
    frame = stored_frame(ingestion, tmp_path)
    assert frame.schema == {"name": pl.String, "price": pl.Float64, "qty": pl.Int64}
    assert frame.rows() == [("Äpfel", 1.99, 3), ("Birnen", 0.5, 12)]
    version = ingestion.version()
    assert version.profile is not None
    assert version.profile["dialect"] == EXCEL_DIALECT
    price = next(c for c in version.profile["columns"] if c["name"] == "price")
    assert (price["kind"], price["min"], price["max"]) == ("numeric", 0.5, 1.99)


@default_store_only
def test_a_tsv_upload_ends_ready_split_on_tabs(confirmed: MakeIngestion, tmp_path: Path) -> None:
    ingestion = confirmed(b"id\tnote\n1\tyes, twice\n2\tno\n", filename="notes.tsv")
    assert ingestion.temp_key.endswith(".tsv")
    assert ingest_dataset(ingestion.version_id) == "ready"
    assert stored_frame(ingestion, tmp_path).rows() == [(1, "yes, twice"), (2, "no")]
    profile = ingestion.version().profile
    assert profile is not None and profile["dialect"]["delimiter"] == "\t"


@default_store_only
def test_a_parquet_upload_has_no_dialect(confirmed: MakeIngestion, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(source)
    ingestion = confirmed(source.read_bytes(), filename="in.parquet")
    assert ingest_dataset(ingestion.version_id) == "ready"
    profile = ingestion.version().profile
    assert profile is not None and profile["dialect"] is None


@default_store_only
def test_a_version_whose_parquet_an_earlier_run_stored_reports_the_uploads_dialect(
    confirmed: MakeIngestion, tmp_path: Path
) -> None:
    ingestion = confirmed(EXCEL_EUROPE)
    earlier = tmp_path / "earlier.parquet"
    pl.DataFrame({"name": ["Äpfel", "Birnen"], "price": [1.99, 0.5], "qty": [3, 12]}).write_parquet(
        earlier
    )
    ingestion.store.client.put_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key, Body=earlier.read_bytes()
    )
    assert ingest_dataset(ingestion.version_id) == "ready"
    profile = ingestion.version().profile
    assert profile is not None and profile["dialect"] == EXCEL_DIALECT


# docs/spec.md promises every byte-order-marked UTF-16 and UTF-32 file: screening reads them in
# code units of their width and order (ASCII characters hold zero bytes), conversion transcodes.
WIDE_UNICODE = "id;Stadt\r\n1;Köln\r\n2;Zürich 😀\r\n"


@default_store_only
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_byte_order_marked_utf_16_or_utf_32_file_ends_ready(
    confirmed: MakeIngestion, tmp_path: Path, codec: str
) -> None:
    ingestion = confirmed(("\ufeff" + WIDE_UNICODE).encode(codec))
    assert ingest_dataset(ingestion.version_id) == "ready"
    assert stored_frame(ingestion, tmp_path).rows() == [(1, "Köln"), (2, "Zürich 😀")]
    profile = ingestion.version().profile
    assert profile is not None
    assert profile["dialect"] == {
        "encoding": codec[:6],
        "delimiter": ";",
        "decimal": ".",
        "line_ending": "CRLF",
    }
