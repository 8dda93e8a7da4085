"""Benchmark: end-to-end ingestion of generated CSVs beside bare polars and pandas conversions.

    python3 -m uv run python -m bench.ingest [--sizes 100MB,1GB,5GB] [--workdir /tmp/automl-bench]

The S3 server (moto) and the Prefect server run in their own processes; each measured job
(our flow run, bare polars, pandas) runs in a fresh child process whose peak RSS is read from
`wait4`. Nothing is asserted: it prints a table.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_size(text: str) -> int:
    for unit, factor in UNITS.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def generate_csv(path: Path, size: int) -> int:
    """A CSV of about `size` bytes, 10 mixed columns; reused if already there. Returns rows."""
    marker = path.with_suffix(".rows")
    if path.exists() and marker.exists() and path.stat().st_size >= size:
        return int(marker.read_text())
    rng = np.random.default_rng(7)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    rows = 0
    with path.open("wb") as handle:
        first = True
        while handle.tell() < size:
            n = 500_000
            frame = pl.DataFrame(
                {
                    "id": np.arange(rows, rows + n),
                    "age": rng.integers(18, 90, n),
                    "income": rng.normal(50_000, 15_000, n).round(2),
                    "score": rng.random(n),
                    "city": rng.choice(words, n),
                    "segment": rng.choice(words[:3], n),
                    "visits": rng.poisson(4, n),
                    "ratio": rng.random(n) * 100,
                    "code": rng.integers(0, 1_000_000, n).astype(str),
                    "churned": rng.integers(0, 2, n),
                }
            )
            frame.write_csv(handle, include_header=first)
            first = False
            rows += n
    marker.write_text(str(rows))
    return rows


@dataclass
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    returncode: int


def measure(label: str, code: str, env: dict[str, str]) -> Measurement:
    """Runs `code` in a fresh Python process; wall time and its peak RSS (from wait4)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(label, time.perf_counter() - start, usage.ru_maxrss / 1024, child.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100MB,1GB,5GB")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/automl-bench"))
    parser.add_argument("--skip-pandas-above", default="2GB")
    args = parser.parse_args()
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "state"

    s3_port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from stack import PrefectServerProcess

    prefect = PrefectServerProcess(data_dir, free_port())
    prefect.start()
    env = {
        **os.environ,
        "R2_ENDPOINT": f"http://127.0.0.1:{s3_port}",
        "R2_BUCKET_NAME": "automl-bench",
        "AUTOML_DATA_DIR": str(data_dir),
        "PREFECT_API_URL": prefect.api_url,
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    os.environ.update(env)
    results: list[tuple[str, int, Measurement, float]] = []
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: prefect.api_url}):
            from blocks.storage import s3_client, save_storage_block
            from catalog.database import catalog_for, migrate
            from catalog.datasets import create_upload, create_version
            from catalog.tables import User
            from core.settings import get_settings
            from flows.setup_storage import setup_storage

            settings = get_settings()
            block = save_storage_block(settings)
            setup_storage()
            migrate(settings.catalog_url)
            catalog = catalog_for(settings.catalog_url)
            with catalog.session() as session:
                if session.get(User, "bench") is None:
                    session.add(User(id="bench", tier="enterprise"))
            s3 = s3_client(block)
            for size_text in args.sizes.split(","):
                size = parse_size(size_text)
                csv_path = workdir / f"data-{size_text}.csv"
                rows = generate_csv(csv_path, size)
                actual = csv_path.stat().st_size
                with catalog.session() as session:
                    upload = create_upload(
                        session,
                        "bench",
                        csv_path.name,
                        actual,
                        datetime.now(UTC) + timedelta(hours=6),
                    )
                    version = create_version(session, upload.id, f"bench {size_text}")
                    temp_key, version_id = upload.temp_key, version.id
                s3.upload_file(str(csv_path), "automl-bench", temp_key)
                ours = measure(
                    "ingest-dataset flow",
                    "from flows.ingest_dataset import ingest_dataset; "
                    f"ingest_dataset({version_id!r})",
                    env,
                )
                out = workdir / "bare.parquet"
                polars_run = measure(
                    "bare polars scan_csv+sink_parquet",
                    f"import polars as pl; pl.scan_csv({str(csv_path)!r})"
                    f".sink_parquet({str(out)!r})",
                    env,
                )
                runs = [ours, polars_run]
                if size <= parse_size(args.skip_pandas_above):
                    runs.append(
                        measure(
                            "pandas read_csv+to_parquet",
                            f"import pandas as pd; pd.read_csv({str(csv_path)!r})"
                            f".to_parquet({str(out)!r})",
                            env,
                        )
                    )
                for run in runs:
                    results.append((size_text, rows, run, actual / 1e6 / run.seconds))
                    print(
                        f"{size_text}: {run.label}: {run.seconds:.1f} s, "
                        f"peak RSS {run.peak_rss_mb:.0f} MB, exit {run.returncode}",
                        flush=True,
                    )
                out.unlink(missing_ok=True)
    finally:
        prefect.stop()
        moto.terminate()
        moto.wait()

    print()
    print("| file | rows | job | wall s | MB/s | peak RSS MB | vs bare polars | exit |")
    print("|---|---|---|---|---|---|---|---|")
    baseline = {s: m.seconds for s, _, m, _ in results if m.label.startswith("bare polars")}
    for size_text, rows, run, rate in results:
        ratio = run.seconds / baseline[size_text] if size_text in baseline else float("nan")
        print(
            f"| {size_text} | {rows:,} | {run.label} | {run.seconds:.1f} | {rate:.0f} "
            f"| {run.peak_rss_mb:.0f} | {ratio:.2f}x | {run.returncode} |"
        )


if __name__ == "__main__":
    main()
