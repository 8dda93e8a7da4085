#!/usr/bin/env bash
# Install LocalStack (S3 only, signature-checking) into its own Python 3.13 venv.
#
# LocalStack needs Python 3.13 (it fails on 3.11/3.12), so it lives in a venv
# separate from the project's own environment. The test suite finds it through
# tests/support/localstack.py.
#
#   AUTOML_LOCALSTACK_PYTHON  interpreter to use (must be 3.13); default: pyenv's
#                             versions/3.13.*/bin/python3.13, else python3.13 on PATH
#   AUTOML_LOCALSTACK_VENV    venv location; default: ~/.cache/automl/localstack-venv
#
# Idempotent: a marker file in the venv records the pins and the interpreter, so a
# second run with nothing changed returns at once. Prints the venv path at the end.
set -euo pipefail

# Exact pins. localstack-core 2026.3.0 breaks with cbor2>=6, pyopenssl>=24.3 and
# cryptography>=44; service_identity silences the twisted/hypercorn TLS warning.
PINS=(
    "localstack-core[runtime]==2026.3.0"
    "cbor2==5.9.0"
    "pyopenssl==24.2.1"
    "cryptography==43.0.3"
    "service_identity==24.2.0"
)

VENV="${AUTOML_LOCALSTACK_VENV:-$HOME/.cache/automl/localstack-venv}"
MARKER="$VENV/.automl-localstack-installed"
WANT="pins: ${PINS[*]}"

die() {
    echo "install-localstack: $*" >&2
    exit 1
}

# Fast path: venv already installed with exactly these pins.
if [[ -f "$MARKER" && -x "$VENV/bin/python" ]] && [[ "$(head -n 1 "$MARKER")" == "$WANT" ]]; then
    echo "localstack venv: $VENV"
    exit 0
fi

is_py313() {
    [[ -n "$1" && -x "$1" ]] || return 1
    local v
    v="$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || return 1
    [[ "$v" == "3.13" ]]
}

find_python() {
    if [[ -n "${AUTOML_LOCALSTACK_PYTHON:-}" ]]; then
        is_py313 "$AUTOML_LOCALSTACK_PYTHON" \
            || die "AUTOML_LOCALSTACK_PYTHON=$AUTOML_LOCALSTACK_PYTHON is not a working Python 3.13"
        echo "$AUTOML_LOCALSTACK_PYTHON"
        return
    fi
    local root="" cand
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root 2>/dev/null || true)"
    fi
    root="${root:-${PYENV_ROOT:-$HOME/.pyenv}}"
    # Newest 3.13.x first.
    for cand in $(ls -d "$root"/versions/3.13.*/bin/python3.13 2>/dev/null | sort -rV); do
        if is_py313 "$cand"; then
            echo "$cand"
            return
        fi
    done
    # A pyenv shim for python3.13 exists but refuses unless 3.13 is selected:
    # is_py313 runs it, so a refusing shim is skipped.
    cand="$(command -v python3.13 2>/dev/null || true)"
    if is_py313 "$cand"; then
        echo "$cand"
        return
    fi
    die "no Python 3.13 found (set AUTOML_LOCALSTACK_PYTHON, or install 3.13 with pyenv or apt)"
}

PY="$(find_python)"

# A venv built on another interpreter (or another minor version) is rebuilt.
if [[ -x "$VENV/bin/python" ]] && ! is_py313 "$VENV/bin/python"; then
    [[ -f "$VENV/pyvenv.cfg" ]] || die "$VENV exists and is not a venv; remove it or set AUTOML_LOCALSTACK_VENV"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    if [[ -e "$VENV" && ! -f "$VENV/pyvenv.cfg" && -n "$(ls -A "$VENV" 2>/dev/null)" ]]; then
        die "$VENV exists and is not a venv; remove it or set AUTOML_LOCALSTACK_VENV"
    fi
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV" || die "could not create venv at $VENV with $PY (python3.13-venv missing?)"
fi

rm -f "$MARKER"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$VENV/bin/python" -m pip install --quiet "${PINS[@]}" \
    || die "pip install into $VENV failed"
# Importable and the entry point exists, else the marker is not written.
"$VENV/bin/python" -c 'import localstack.runtime.main, hypercorn, cbor2' \
    || die "localstack installed into $VENV but does not import"

{
    echo "$WANT"
    echo "python: $PY"
} >"$MARKER"
echo "localstack venv: $VENV"
