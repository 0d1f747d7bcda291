#!/usr/bin/env bash
# Install the peers of bench/dedupe_bench.py (splink with DuckDB, recordlinkage) into their own virtualenv.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
test -x .venv-peers/bin/python || "$PYTHON" -m venv .venv-peers
.venv-peers/bin/python -m pip install --quiet --disable-pip-version-check -r peers-requirements.txt
.venv-peers/bin/python -c 'import splink, recordlinkage, duckdb; print("peers:", "splink", splink.__version__, "recordlinkage", recordlinkage.__version__, "duckdb", duckdb.__version__)'
