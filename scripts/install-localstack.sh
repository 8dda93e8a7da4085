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
# Idempotent: a marker file in the venv records the pins and the lock below, so a
# second run with nothing changed returns at once. Prints the venv path at the end.
set -euo pipefail

# Exact pins. localstack-core 2026.3.0 breaks with cbor2>=6, pyopenssl>=24.3 and
# cryptography>=44 (the releases pip picks unpinned); service_identity is for
# twisted's TLS support (LocalStack's gateway speaks HTTP and HTTPS on one port).
PINS=(
    "localstack-core[runtime]==2026.3.0"
    "cbor2==5.9.0"
    "pyopenssl==24.2.1"
    "cryptography==43.0.3"
    "service_identity==24.2.0"
)

# Every other package at the version this was verified with (pip freeze of a
# working install), so a fresh machine gets the same set; applied as constraints.
read -r -d '' LOCK <<'EOF_LOCK' || true
airspeed_ext==0.6.9
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
apispec==6.10.1
asn1crypto==1.5.1
attrs==26.1.0
aws-sam-translator==1.115.0
aws-xray-sdk==2.15.0
awscli==1.44.62
awscrt==0.38.1
boto3==1.42.72
botocore==1.42.72
cachetools==8.0.2
cbor2==5.9.0
certifi==2026.10.19.post1
cffi==2.1.1
cfn-lint==1.58.0
charset-normalizer==3.5.2
click==8.5.1
colorama==0.4.6
constantly==23.10.4
crontab==1.0.5
cryptography==43.0.3
decorator==5.3.1
dill==0.3.6
dnslib==0.9.26
dnspython==2.9.2
docker==7.2.0
docutils==0.19
Events==0.5
graphql-core==3.3.2
grpcio==1.85.3
h11==0.16.0
h2==4.4.1
hpack==4.2.0
Hypercorn==0.18.0
hyperframe==6.1.0
hyperlink==21.0.0
idna==3.20
Incremental==24.11.0
isodate==0.7.2
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.5.0
jpype1==1.7.1
jsonpatch==1.48
jsonpath-ng==1.7.0
jsonpath-rw==1.4.0
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.4.6
jsonschema-specifications==2025.9.1
kclpy-ext==3.1.3.post4
lazy-object-proxy==1.13.0
localstack-core==2026.3.0
localstack-twisted==26.4.0
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
more-itertools==11.2.1
moto-ext==5.1.54
mpmath==1.3.0
multipart==2.0.1
networkx==3.7
openapi-core==0.23.1
openapi-schema-validator==0.8.1
openapi-spec-validator==0.8.5
opensearch-protobufs==1.2.0
opensearch-py==3.2.0
packaging==26.3
pathable==0.5.0
plux==1.16.0
ply==3.11
priority==1.3.0
protobuf==7.36.2
psutil==7.2.2
py-partiql-parser==0.6.3
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
pydantic==2.13.5
pydantic-settings==2.16.3
pydantic_core==2.46.5
Pygments==2.21.0
pymongo==4.20.1
pyOpenSSL==24.2.1
pyparsing==3.3.3
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.4
readerwriterlock==1.0.10
referencing==0.37.0
regex==2026.11.19
requests==2.34.2
requests-aws4auth==1.4.0
responses==0.26.3
rfc3339-validator==0.1.4
rich==15.0.0
rolo==0.8.9
rpds-py==2026.9.1
rsa==4.7.2
s3transfer==0.16.1
semver==3.1.2
service-identity==24.2.0
setuptools==84.2.1
six==1.17.0
sympy==1.14.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
wsproto==1.3.2
xmltodict==1.0.4
zope.interface==8.7
EOF_LOCK

VENV="${AUTOML_LOCALSTACK_VENV:-$HOME/.cache/automl/localstack-venv}"
MARKER="$VENV/.automl-localstack-installed"
WANT="pins: ${PINS[*]}
${LOCK}"

die() {
    echo "install-localstack: $*" >&2
    exit 1
}

# Fast path: venv already installed with exactly these pins.
if [[ -f "$MARKER" && -x "$VENV/bin/python" ]] && [[ "$(<"$MARKER")" == "$WANT" ]]; then
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
    local root="" cand cands=()
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root 2>/dev/null || true)"
    fi
    root="${root:-${PYENV_ROOT:-$HOME/.pyenv}}"
    # Newest 3.13.x first.
    mapfile -t cands < <(ls -d "$root"/versions/3.13.*/bin/python3.13 2>/dev/null | sort -rV)
    for cand in "${cands[@]}"; do
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
CONSTRAINTS="$(mktemp "${TMPDIR:-/tmp}/localstack-constraints.XXXXXX")"
trap 'rm -f "$CONSTRAINTS"' EXIT
printf '%s\n' "$LOCK" >"$CONSTRAINTS"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$VENV/bin/python" -m pip install --quiet --constraint "$CONSTRAINTS" "${PINS[@]}" \
    || die "pip install into $VENV failed"
# Importable and the entry point exists, else the marker is not written.
"$VENV/bin/python" -c 'import localstack.runtime.main, twisted, hypercorn, cbor2' \
    || die "localstack installed into $VENV but does not import"

printf '%s\n' "$WANT" >"$MARKER"
echo "localstack venv: $VENV"
