#!/usr/bin/env bash
# Install the peers: splink (with DuckDB) and recordlinkage for bench/dedupe_bench.py into bench/.venv-peers,
# and BottleCRM for bench/api_bench.py into bench/.venv-bottlecrm (bench/setup_bottlecrm.sh).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
test -x .venv-peers/bin/python || "$PYTHON" -m venv .venv-peers
.venv-peers/bin/python -m pip install --quiet --disable-pip-version-check -r peers-requirements.txt
.venv-peers/bin/python -c 'import splink, recordlinkage, duckdb; print("peers:", "splink", splink.__version__, "recordlinkage", recordlinkage.__version__, "duckdb", duckdb.__version__)'
# BottleCRM, the api part's peer CRM, in an environment of its own (Python >= 3.12); without it the api
# part says why it is not measured.
bash setup_bottlecrm.sh || echo "peers: BottleCRM is not installed; the api part will report it as not measured" >&2
