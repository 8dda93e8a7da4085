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
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.ports import free_port
from bench.stores import STORES, StoreProcess, run_store

ROOT = Path(__file__).resolve().parents[1]
UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_size(text: str) -> int:
    for unit, factor in UNITS.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


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
            n = min(500_000, max(1_000, size // 80))  # ~80 bytes a row: small files stay small
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


def generate_wide_csv(path: Path, rows: int, columns: int) -> int:
    """`rows` x `columns` random floats (4 decimals) named c0, c1, ...; reused if there."""
    if not path.exists():
        values = np.random.default_rng(7).random((rows, columns)).round(4)
        pl.DataFrame(values, schema=[f"c{i}" for i in range(columns)]).write_csv(path)
    return rows


# Our file-level steps, as the flow's convert and profile tasks run them, without Prefect or S3.
OUR_STEPS = """
import json, sys, time
from pathlib import Path
from tasks.conversion import convert_to_parquet, sniff_format
from tasks.profiling import profile_parquet
source, out = Path(sys.argv[1]), Path(sys.argv[2])
start = time.perf_counter()
convert_to_parquet(source, sniff_format(source), out)
converted = time.perf_counter()
profile_parquet(out)
phases = {"conversion": converted - start, "profiling": time.perf_counter() - converted}
print("BENCH " + json.dumps(phases))
"""
# Bare polars, timed in-process too, so start-up and imports can be told from the work.
BARE_STEPS = """
import json, time
import polars as pl
start = time.perf_counter()
pl.scan_csv({source!r}).sink_parquet({target!r})
print("BENCH " + json.dumps({{"conversion": time.perf_counter() - start}}))
"""
# Appended to every measured job. wait4's ru_maxrss is no good here: Linux carries the peak RSS
# of the process that spawned the child (this one, with Prefect and boto3 loaded: ~300 MB) into
# the child's figure across exec. VmHWM belongs to the child's own address space.
PEAK_REPORT = """
import json as _json, re as _re
with open("/proc/self/status") as _status:
    _peak_kb = int(_re.search(r"VmHWM:\\s+(\\d+) kB", _status.read()).group(1))
print("BENCH " + _json.dumps({"peak_rss_mb": _peak_kb / 1024}), flush=True)
"""
FLOW = "ingest-dataset flow (end to end, S3 in moto)"
BARE = "bare polars scan_csv+sink_parquet"
OURS = "conversion + profiling (our tasks, local file)"
PANDAS = "pandas read_csv+to_parquet"


@dataclass
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    returncode: int
    load: float  # 1-minute load average when it started
    cpu_seconds: float  # user + system, the child's own
    phases: dict[str, float] = field(default_factory=dict)
    # The S3 server's process during a flow job (staging upload included): peak_rss_mb,
    # cpu_seconds, and upload_seconds (the staging upload, not in `seconds`).
    store: dict[str, float] = field(default_factory=dict)


def measure(label: str, code: str, env: dict[str, str], *args: str) -> Measurement:
    """Runs `code` in a fresh Python process: its wall time and its own peak RSS (VmHWM).

    Lines `BENCH {json}` the child prints are kept: phase name -> seconds, and its peak.
    """
    load = os.getloadavg()[0]
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code + "\n" + PEAK_REPORT, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    output = child.stdout.read()  # before wait4, so a chatty child cannot fill the pipe
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    returncode = os.waitstatus_to_exitcode(status)
    reported: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("BENCH "):
            reported.update(json.loads(line.removeprefix("BENCH ")))
    # A child that failed reports no peak: wait4's figure (an upper bound) stands in.
    peak = reported.pop("peak_rss_mb", usage.ru_maxrss / 1024)
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(label, seconds, peak, returncode, load, cpu, reported)


@dataclass
class Row:
    size_text: str
    size: int
    rows: int
    label: str
    runs: list[Measurement]

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    def span(self, values: list[float], digits: int = 1) -> str:
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return (
            f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})"
        )


def start_servers(workdir: Path) -> tuple[Any, Any, dict[str, str]]:
    """moto and a Prefect server, each in its own process, and the environment pointing at them."""
    s3_port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prefect, env = start_prefect(workdir, {"R2_ENDPOINT": f"http://127.0.0.1:{s3_port}"})
    return moto, prefect, env


def start_prefect(
    workdir: Path, variables: dict[str, str] | None = None
) -> tuple[Any, dict[str, str]]:
    """A Prefect server in its own process, and the environment pointing at it (and at
    `variables`), set in this process's environment too."""
    from stack import PrefectServerProcess

    data_dir = workdir / "state"
    prefect = PrefectServerProcess(data_dir, free_port())
    prefect.start()
    env = {
        **os.environ,
        **(variables or {}),
        "R2_BUCKET_NAME": "automl-bench",
        "AUTOML_DATA_DIR": str(data_dir),
        "PREFECT_API_URL": prefect.api_url,
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    os.environ.update(env)
    return prefect, env


class FlowRunner:
    """Creates a version for a local CSV, puts it in the store and runs the flow in a child.

    Without `store`, the store is the environment's (R2_ENDPOINT); with one, the runner points
    the storage block at that store before each run (several stores share one Prefect server)
    and measures the store's process."""

    def __init__(
        self, env: dict[str, str], user_id: str = "bench", store: StoreProcess | None = None
    ) -> None:
        from blocks.storage import s3_client, save_storage_block
        from catalog.database import catalog_for, migrate
        from catalog.tables import User
        from core.settings import Settings, get_settings

        self.store = store
        self.label = FLOW
        if store is not None:
            env = {
                **env,
                "R2_ENDPOINT": store.endpoint,
                "R2_ACCESS_KEY_ID": store.access_key,
                "R2_SECRET_ACCESS_KEY": store.secret_key,
                "R2_REGION": store.region,
            }
            self.label = f"ingest-dataset flow (end to end, S3 in {store.title})"
        self.env = env
        self.user_id = user_id
        settings = get_settings()
        if store is not None:
            settings = Settings.model_validate(_store_variables(env))
        self.settings = settings
        block = save_storage_block(settings)
        self.s3 = s3_client(block)
        self.bucket = settings.r2_bucket_name
        self._prepare_bucket()
        migrate(settings.catalog_url)
        self.catalog = catalog_for(settings.catalog_url)
        with self.catalog.session() as session:
            if session.get(User, user_id) is None:
                session.add(User(id=user_id, tier="enterprise"))

    def _prepare_bucket(self) -> None:
        """setup-storage, as `automl up` runs it; a store without lifecycle rules (s3rver) gets
        its bucket only."""
        from flows.setup_storage import setup_storage

        if self.store is None or self.store.lifecycle_rules:
            setup_storage()
        else:
            self.s3.create_bucket(Bucket=self.bucket)

    def stage(self, path: Path, name: str) -> str:
        """A confirmed upload of `path` with its pending version, as the API leaves it; the
        version's id."""
        from catalog.datasets import create_upload, create_version

        with self.catalog.session() as session:
            upload = create_upload(
                session,
                self.user_id,
                path.name,
                path.stat().st_size,
                datetime.now(UTC) + timedelta(hours=6),
            )
            version = create_version(session, upload.id, name)
            temp_key, version_id = upload.temp_key, version.id
        self.s3.upload_file(str(path), self.bucket, temp_key)
        return version_id

    def run(self, csv_path: Path, size_text: str) -> Measurement:
        from blocks.storage import save_storage_block

        store = self.store
        if store is not None:
            save_storage_block(self.settings)  # the flow's child loads the block
            store.reset_peak()
        cpu_before = store.cpu_seconds() if store is not None else 0.0
        upload_start = time.perf_counter()
        version_id = self.stage(csv_path, f"bench {size_text}")
        upload_seconds = time.perf_counter() - upload_start
        run = measure(
            self.label,
            f"from flows.ingest_dataset import ingest_dataset; ingest_dataset({version_id!r})",
            self.env,
        )
        if store is not None:
            run.store = {
                "peak_rss_mb": store.peak_rss_mb(),
                "cpu_seconds": store.cpu_seconds() - cpu_before,
                "upload_seconds": upload_seconds,
            }
        return run


def _store_variables(env: dict[str, str]) -> dict[str, str]:
    """The settings' variables of `env`, as Settings' keyword arguments (its aliases)."""
    from core.settings import Settings

    aliases = {(info.alias or name) for name, info in Settings.model_fields.items()}
    return {key: value for key, value in env.items() if key in aliases}


def size_jobs(
    csv_path: Path,
    out: Path,
    env: dict[str, str],
    *,
    pandas: bool,
    flows: list[FlowRunner],
    size_text: str,
) -> dict[str, Callable[[], Measurement]]:
    """The jobs measured on one file, by label, in the order they run within a round."""
    source, target = str(csv_path), str(out)
    jobs: dict[str, Callable[[], Measurement]] = {
        BARE: partial(
            measure,
            BARE,
            BARE_STEPS.format(source=source, target=target),
            env,
        ),
        OURS: partial(measure, OURS, OUR_STEPS, env, source, target),
    }
    if pandas:
        jobs[PANDAS] = partial(
            measure,
            PANDAS,
            f"import pandas as pd; pd.read_csv({source!r}).to_parquet({target!r})",
            env,
        )
    for flow in flows:
        jobs[flow.label] = partial(flow.run, csv_path, size_text)
    return jobs


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


def print_table(table: list[Row]) -> None:
    print()
    print(
        "| file | rows | job | wall s, median (range) | MB/s | CPU s, median | peak RSS MB (max) "
        "| wall vs bare polars, median (same-round range) | CPU vs bare polars | exit "
        "| store peak RSS MB (max) | store CPU s, median | staging upload s, median |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    bare = {row.size_text: row for row in table if row.label == BARE}
    for row in table:
        baseline = bare.get(row.size_text)
        cpu = statistics.median(run.cpu_seconds for run in row.runs)
        ratio = cpu_ratio = "n/a"
        if baseline is not None:
            per_round = [
                mine.seconds / theirs.seconds
                for mine, theirs in zip(row.runs, baseline.runs, strict=False)
            ]
            ratio = f"{row.median / baseline.median:.2f}x"
            if len(per_round) > 1:
                ratio += f" ({min(per_round):.2f}-{max(per_round):.2f})"
            baseline_cpu = statistics.median(run.cpu_seconds for run in baseline.runs)
            cpu_ratio = f"{cpu / baseline_cpu:.2f}x"
        exits = ",".join(sorted({str(run.returncode) for run in row.runs}))
        print(
            f"| {_file_label(row)} | {row.rows:,} | {row.label} "
            f"| {row.span([run.seconds for run in row.runs])} | {row.size / 1e6 / row.median:.0f} "
            f"| {cpu:.1f} | {max(run.peak_rss_mb for run in row.runs):,.0f} | {ratio} "
            f"| {cpu_ratio} | {exits} | {_store_columns(row.runs)} |"
        )
    print()
    # The same ratio without process start-up and imports: the work done after them.
    for row in table:
        baseline = bare.get(row.size_text)
        if row.label != OURS or baseline is None or not row.runs[0].phases:
            continue
        parts = ", ".join(
            f"{phase} {row.span([run.phases[phase] for run in row.runs])} s"
            for phase in row.runs[0].phases
        )
        ours = [sum(run.phases.values()) for run in row.runs]
        theirs = [run.phases.get("conversion", float("nan")) for run in baseline.runs]
        ratios = [mine / bare_work for mine, bare_work in zip(ours, theirs, strict=False)]
        median_ratio = statistics.median(ours) / statistics.median(theirs)
        print(
            f"{row.size_text}, in-process work: ours {parts}; bare polars "
            f"{baseline.span(theirs)} s; ratio {median_ratio:.2f}x "
            f"(same-round {min(ratios):.2f}-{max(ratios):.2f})"
        )
    loads = [run.load for row in table for run in row.runs]
    print(f"\nload average (1 min) at the start of each job: {min(loads):.1f}-{max(loads):.1f}")


def _store_columns(runs: list[Measurement]) -> str:
    """The store's peak RSS, CPU and the staging upload's time, for flow rows; "" for others."""
    if not runs[0].store:
        return " | | "
    peak = max(run.store["peak_rss_mb"] for run in runs)
    cpu = statistics.median(run.store["cpu_seconds"] for run in runs)
    upload = statistics.median(run.store["upload_seconds"] for run in runs)
    return f"{peak:,.0f} | {cpu:.1f} | {upload:.1f}"


def _file_label(row: Row) -> str:
    """Sized files by their size; wide files by their columns, the figure that matters."""
    if row.size_text.endswith("columns"):
        return f"{row.size_text}, {row.size / 1e6:.1f} MB"
    if row.size < 10**9:
        return f"{row.size / 1e6:,.0f} MB"
    return f"{row.size / 1e9:.2f} GB"


if __name__ == "__main__":
    main()
