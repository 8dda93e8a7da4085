"""Benchmark: end-to-end ingestion of generated CSVs beside bare polars and pandas conversions.

    python3 -m uv run python -m bench.ingest [--sizes 100MB,1GB,5GB] [--repeat 3]
        [--workdir /tmp/automl-bench] [--skip-pandas-above 2GB] [--skip-flow-above 2GB]
        [--wide 1000,10000,20000] [--wide-rows 100]
        [--stores embedded,localstack,s3rver] [--s3rver PATH/bin/s3rver.js]

For each size, interleaved `--repeat` times: bare polars' conversion of the local file, our
conversion + profiling of the same file (the flow's tasks without Prefect or S3: the issue's
1.5x target), pandas, and the whole flow end to end against each S3 server of `--stores`
(bench/stores.py: the embedded moto `automl up` holds, LocalStack, s3rver) and a Prefect server,
each in its own process; for the flow the store's own peak RSS and CPU are measured too.
`--wide` adds wide files (`--wide-rows` rows of random floats, that many columns; `--sizes ''`
for none of the others): bare polars and ours only, the shape whose profiling grew with the
square of the columns (issue 15). Each job runs in a fresh child process whose peak RSS is read
from `wait4`. Nothing is asserted: it prints a table of medians and ranges.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from bench.child_runs import Measurement
from bench.generated_csv import generate_csv, generate_wide_csv, parse_size
from bench.ingest_flow import FlowRunner, start_prefect
from bench.ingest_jobs import size_jobs
from bench.ingest_table import Row, print_table
from bench.stores import STORES, run_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100MB,1GB,5GB")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/automl-bench"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each job, interleaved")
    parser.add_argument("--wide", default="", help="column counts of wide files, e.g. 1000,20000")
    parser.add_argument("--wide-rows", type=int, default=100, help="rows of each wide file")
    parser.add_argument("--skip-pandas-above", default="2GB")
    parser.add_argument(
        "--skip-flow-above",
        default="2GB",
        help="no end-to-end flow row above this size (moto serves ~4 MB/s from memory)",
    )
    parser.add_argument(
        "--stores",
        default="embedded",
        help=f"S3 servers to run the flow against, of {','.join(STORES)} (bench/stores.py)",
    )
    parser.add_argument("--s3rver", type=Path, help="s3rver's bin/s3rver.js (npm install s3rver)")
    args = parser.parse_args()
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [(text, parse_size(text)) for text in args.sizes.split(",") if text]
    wide = [int(text) for text in args.wide.split(",") if text]
    flow_sizes = {text for text, size in sizes if size <= parse_size(args.skip_flow_above)}

    prefect = None
    env = dict(os.environ)
    table: list[Row] = []
    servers = ExitStack()
    try:
        runners: list[FlowRunner] = []
        if flow_sizes:
            prefect, env = start_prefect(workdir)
            from prefect.settings import PREFECT_API_URL, temporary_settings

            servers.enter_context(temporary_settings(updates={PREFECT_API_URL: prefect.api_url}))
            for kind in [text for text in args.stores.split(",") if text]:
                store = servers.enter_context(run_store(kind, workdir, args.s3rver))
                print(
                    f"{store.title}: ready in {store.started_seconds:.1f} s, "
                    f"RSS {store.rss_mb():.0f} MB, {store.endpoint}",
                    flush=True,
                )
                runners.append(FlowRunner(env, store=store))
        files = [
            (text, size, f"data-{text}.csv", partial(generate_csv, size=size))
            for text, size in sizes
        ]
        files += [
            (
                f"{columns:,} columns",
                0,
                f"data-wide-{args.wide_rows}x{columns}.csv",
                partial(generate_wide_csv, rows=args.wide_rows, columns=columns),
            )
            for columns in wide
        ]
        for size_text, size, file_name, generate in files:
            csv_path = workdir / file_name
            rows = generate(csv_path)
            actual = csv_path.stat().st_size
            out = workdir / "out.parquet"
            jobs = size_jobs(
                csv_path,
                out,
                env,
                pandas=0 < size <= parse_size(args.skip_pandas_above),
                flows=runners if size_text in flow_sizes else [],
                size_text=size_text,
            )
            results: dict[str, list[Measurement]] = {label: [] for label in jobs}
            for repeat in range(1, args.repeat + 1):
                # Interleaved, so a change in the machine's load touches every job alike.
                for label, job in jobs.items():
                    run = job()
                    results[label].append(run)
                    out.unlink(missing_ok=True)
                    phases = "".join(f", {k} {v:.1f} s" for k, v in run.phases.items())
                    phases += "".join(f", store {k} {v:.1f}" for k, v in run.store.items())
                    print(
                        f"{size_text} #{repeat}: {label}: {run.seconds:.1f} s{phases}, "
                        f"peak RSS {run.peak_rss_mb:.0f} MB, exit {run.returncode}, "
                        f"load {run.load:.1f}",
                        flush=True,
                    )
            for label, runs in results.items():
                table.append(Row(size_text, actual, rows, label, runs))
    finally:
        servers.close()
        if prefect is not None:
            prefect.stop()
    print_table(table)


if __name__ == "__main__":
    main()
