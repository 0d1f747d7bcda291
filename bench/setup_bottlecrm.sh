#!/usr/bin/env bash
# Install BottleCRM (django-crm on PyPI), the peer CRM of the api benchmark, into bench/.venv-bottlecrm.
# It needs Python >= 3.12: $BOTTLECRM_PYTHON, else pyenv's newest 3.12 (or 3.13), else python3.12/python3.13.
# Idempotent: an environment that already holds the pinned release is left as it is.
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv-bottlecrm
WANT=$(sed -n 's/^django-crm==//p' bottlecrm-requirements.txt)
if [ -x "$VENV/bin/python" ] &&
   [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("django-crm"))' 2>/dev/null)" = "$WANT" ]; then
	echo "peers: BottleCRM (django-crm) $WANT in bench/$VENV"
	exit 0
fi
PY="${BOTTLECRM_PYTHON:-}"
if [ -z "$PY" ] && command -v pyenv >/dev/null; then
	for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[23]\.[0-9]+$' | sort -t. -k2,2n -k3,3nr); do
		PY="$(pyenv root)/versions/$v/bin/python"
		break
	done
fi
if [ -z "$PY" ]; then
	PY=$(command -v python3.12 || command -v python3.13 || true)
fi
if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
	echo "peers: BottleCRM not installed: it needs Python >= 3.12 (set BOTTLECRM_PYTHON, or install one with pyenv)" >&2
	exit 1
fi
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
	-c bottlecrm-constraints.txt -r bottlecrm-requirements.txt
echo "peers: BottleCRM (django-crm) $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("django-crm"))') in bench/$VENV on Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
