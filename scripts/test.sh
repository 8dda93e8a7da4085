#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then lint, types, layers
# (the import contract of pyproject.toml), tests.
#   bash scripts/test.sh [pytest arguments]
# Installs: uv and the locked environment (.venv), LocalStack in its own Python 3.13 venv
# (the signature-checking S3 store), and Debian's postgresql and chromium packages when missing
# (as root; apt waits for a dpkg lock another apt run holds instead of failing).
set -euo pipefail
cd "$(dirname "$0")/.."

export UV_PYTHON_DOWNLOADS=never
PYTHON=${AUTOML_PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

"$PYTHON" -m pip install --quiet --disable-pip-version-check "uv==0.13.9" 2>/dev/null \
  || "$PYTHON" -m pip install --quiet --disable-pip-version-check --user "uv==0.13.9"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing PostgreSQL (Debian package) for the catalog tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is missing: sudo apt-get install postgresql (catalog tests need it)" >&2
  fi
fi

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Chromium (Debian package) for the browser tests"
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
      --no-install-recommends chromium >/dev/null
  else
    echo "Chromium is missing: sudo apt-get install chromium (browser tests need it)" >&2
  fi
fi

bash scripts/install-localstack.sh

# Bytecode compiled once: the tests start dozens of Python processes (servers, workers, flow
# runs), and with PYTHONDONTWRITEBYTECODE set each would compile Prefect from source again.
"$PYTHON" -m uv sync --frozen --quiet --compile-bytecode --python "$PYTHON"
"$PYTHON" -m uv run --frozen --no-sync ruff check .
"$PYTHON" -m uv run --frozen --no-sync ruff format --check .
"$PYTHON" -m uv run --frozen --no-sync mypy .
"$PYTHON" -m uv run --frozen --no-sync lint-imports
# Both lanes run on three pytest-xdist workers on two cores (--dist loadscope keeps a module's
# tests on one worker): the tests share nothing across processes (each worker has its own Prefect
# harness, moto, LocalStack, PostgreSQL and temporary directories), and much of a worker's time
# is spent waiting (events, retries, time limits, servers starting), which a third worker fills
# (docs/benchmarks.md, "Test lanes"). An explicit -n wins (-n 0: one process).
workers=(-n 3 --dist loadscope)
for arg in "$@"; do
  case "$arg" in
    -n|-n*|--numprocesses*) workers=(); break ;;
  esac
done
# Bytecode of the project's own modules and pytest's rewritten test modules is written once and
# read by every later process (this image sets PYTHONDONTWRITEBYTECODE=1: each worker and each
# process a test starts compiled them again, ~4 CPU-s a worker; the venv's is compiled above).
exec env -u PYTHONDONTWRITEBYTECODE "$PYTHON" -m uv run --frozen --no-sync pytest "${workers[@]}" "$@"
