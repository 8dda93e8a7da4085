"""Issue 15's hostile-upload corpus, the encoding and line-ending files: each ends ready with the
right content or failed with a sentence naming the byte, converted and profiled in a child
process whose peak memory (VmHWM) stays under 1 GB. The figures are printed (`-s`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

MiB = 1024**2
PEAK_LIMIT_MB = 1024
ROOT = Path(__file__).parents[2]
# Conversion and profiling, the flow's steps that read the file, as `ingest-dataset` runs them.
CHILD = """
import json, re, sys, time
from pathlib import Path
from core.errors import ContentRejectedError
from tasks.conversion import convert_to_parquet, sniff_format
from tasks.profiling import profile_parquet
source, target = Path(sys.argv[1]), Path(sys.argv[2])
start = time.perf_counter()
try:
    result = convert_to_parquet(source, sniff_format(source), target)
    profile_parquet(target)
    outcome = {"status": "ready", "rows": result.row_count, "dialect": result.dialect}
except ContentRejectedError as exc:
    outcome = {"status": "failed", "error": exc.message}
outcome["seconds"] = round(time.perf_counter() - start, 2)
with open("/proc/self/status") as status:
    outcome["peak_mb"] = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) // 1024
print(json.dumps(outcome))
"""


def ingest_in_child(source: Path) -> dict[str, Any]:
    target = source.with_suffix(".parquet")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(source), str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{source.name}: {outcome}")
    assert outcome["peak_mb"] < PEAK_LIMIT_MB
    return outcome


def rows_of(count: int, line: str) -> str:
    return "".join(line.format(i=i) for i in range(count))


@pytest.mark.e2e  # a child process per file, tens of MB each
def test_utf16_with_a_bom_ends_ready_with_its_text(tmp_path: Path) -> None:
    source = tmp_path / "utf16.csv"
    text = "id,city,price\n" + rows_of(1_000_000, "{i},Kraków,{i}.5\n")
    source.write_bytes(text.encode("utf-16"))  # ~60 MB, little-endian with its BOM
    outcome = ingest_in_child(source)
    assert outcome["status"] == "ready" and outcome["rows"] == 1_000_000
    assert outcome["dialect"]["encoding"] == "utf-16"
    frame = pl.read_parquet(source.with_suffix(".parquet"))
    assert frame.schema == {"id": pl.Int64, "city": pl.String, "price": pl.Float64}
    assert frame.row(999_999) == (999_999, "Kraków", 999_999.5)


@pytest.mark.e2e
def test_invalid_utf8_first_at_10_mb_ends_failed_naming_its_offset(tmp_path: Path) -> None:
    source = tmp_path / "broken.csv"
    head = "id,name\n0,Zoë\n".encode()
    body = rows_of((10 * MiB - len(head)) // 10, "{i:08d},\n").encode()  # 10-byte rows
    source.write_bytes(head + body + b"9,\xc3\x28\n" + b"10,ok\n" * 100_000)
    outcome = ingest_in_child(source)
    assert outcome["status"] == "failed"
    assert f"at offset {len(head) + len(body) + 2:,}" in outcome["error"]
    assert (
        outcome["error"].startswith("line ") and "is not valid UTF-8 (byte 0xc3" in outcome["error"]
    )


@pytest.mark.e2e
def test_cr_only_line_endings_end_ready_with_every_row(tmp_path: Path) -> None:
    source = tmp_path / "mac.csv"
    source.write_bytes(("id,note,day\r" + rows_of(1_000_000, '{i},"a\rb",2024-01-02\r')).encode())
    outcome = ingest_in_child(source)
    assert outcome["status"] == "ready" and outcome["rows"] == 1_000_000
    assert outcome["dialect"]["line_ending"] == "CR"
    frame = pl.read_parquet(source.with_suffix(".parquet"))
    assert frame.schema == {"id": pl.Int64, "note": pl.String, "day": pl.Date}
    assert frame.row(123_456)[:2] == (123_456, "a\rb")
