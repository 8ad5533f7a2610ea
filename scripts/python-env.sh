#!/usr/bin/env bash
# Creates (idempotently) the virtualenv used by the Python SDK test suite at
# target/sdk/py, installs tests/sdk/python/requirements.txt into it, and
# prints the venv's python path on stdout (everything else goes to stderr).
#
#   PY=$(scripts/python-env.sh) && "$PY" -m pytest tests/sdk/python -q
#
# The install is skipped when the requirements file is unchanged since the
# last successful install (a stamp file holds its sha256).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/sdk/py"
req="$root/tests/sdk/python/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "python-env: creating virtualenv at $venv" >&2
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv" >&2; then
        echo "python-env: '$python -m venv' failed; on Debian install python3-venv" >&2
        exit 1
    fi
fi

want="$( (sha256sum "$req" 2>/dev/null || shasum -a 256 "$req") | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    echo "python-env: installing $req" >&2
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2 || true
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
    echo "$want" > "$stamp"
fi

echo "$venv/bin/python"
