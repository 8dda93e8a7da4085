"""Benchmark: the hostile corpus (issue 15, point 4) through the whole ingest-dataset flow.

    python3 -m uv run python -m bench.corpus [--scale full|small] [--workdir /tmp/automl-corpus]

Each file of tests/support/hostile_corpus.py is uploaded to an S3 server (moto) and ingested by
the flow in a fresh child process against a Prefect server, under the default limits
(docs/spec.md §1): its outcome, the failure message, the child's peak RSS (VmHWM) and wall
seconds. Beside it, where bare polars would read the file (`scan_csv`/`scan_parquet` then
`sink_parquet`), the same figures for bare polars. Nothing is asserted: it prints a table
(tests/flows/test_hostile_corpus.py asserts the outcomes and the 1 GB bound).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.child_runs import Measurement, measure
from bench.ingest_flow import FlowRunner, start_servers
from tests.support.corpus_file import CorpusFile
from tests.support.hostile_corpus import build_corpus

# Under an address-space cap: bare polars takes 18.7 GB on the 100 MB single line.
BARE_CAP_BYTES = 8 * 1024**3
BARE_POLARS = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
import polars as pl
source, target, kind = sys.argv[1:4]
scan = pl.scan_csv if kind == "csv" else pl.scan_parquet
try:
    scan(source).sink_parquet(target)
    accepted = 1.0
except Exception:
    accepted = 0.0
print("BENCH " + json.dumps({"accepted": accepted}))
""".replace("CAP", str(BARE_CAP_BYTES))
# return_state: a failed run returns, so the child still reports its own peak (VmHWM).
FLOW = (
    "from flows.ingest_dataset import ingest_dataset; "
    "ingest_dataset({version_id!r}, return_state=True)"
)


class CorpusRunner(FlowRunner):
    """Creates a version for each corpus file, puts it in moto and runs the flow in a child."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env, user_id="corpus")

    def run_file(self, entry: CorpusFile) -> tuple[Measurement, str, str]:
        """The measurement, the version's status and its error (or "")."""
        from catalog.tables import DatasetVersion

        version_id = self.stage(entry.path, entry.name)
        measured = measure(entry.name, FLOW.format(version_id=version_id), self.env)
        with self.catalog.session() as session:
            recorded = session.get(DatasetVersion, version_id)
            assert recorded is not None
            return measured, str(recorded.status), recorded.error or ""


def bare_polars(entry: CorpusFile, workdir: Path, env: dict[str, str]) -> str:
    if not entry.anchor:
        return ""
    target = workdir / "bare.parquet"
    run = measure("bare polars", BARE_POLARS, env, str(entry.path), str(target), entry.anchor)
    target.unlink(missing_ok=True)
    if run.returncode:
        outcome = f"aborted (exit {run.returncode}; {BARE_CAP_BYTES // 1024**3} GB cap)"
    else:
        outcome = "accepted" if run.phases.get("accepted") else "error"
    return f"{outcome}, {run.peak_rss_mb:,.0f} MB, {run.seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["full", "small"], default="full")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/automl-corpus"))
    args = parser.parse_args()
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(workdir / "corpus", args.scale)
    moto, prefect, env = start_servers(workdir)
    rows: list[str] = []
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: prefect.api_url}):
            runner = CorpusRunner(env)
            for entry in corpus:
                measured, status, error = runner.run_file(entry)
                anchor = bare_polars(entry, workdir, env)
                row = (
                    f"| {entry.name} | {entry.notes} | {entry.path.stat().st_size:,} | {status} "
                    f"| {error.replace('|', '/')} | {measured.peak_rss_mb:,.0f} "
                    f"| {measured.seconds:.1f} | {anchor} |"
                )
                print(row, flush=True)
                rows.append(row)
    finally:
        prefect.stop()
        moto.terminate()
        moto.wait()
    print()
    print(
        "| file | shape | bytes | outcome | message | peak RSS MB | seconds "
        "| bare polars (outcome, peak RSS, seconds) |"
    )
    print("|---|---|---:|---|---|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
