#!/usr/bin/env bash
# Creates (idempotently) the virtualenv used by the Python SDK test suite at
# target/sdk/py, installs tests/sdk/python/requirements.txt into it, and
# prints the venv's python path on stdout (everything else goes to stderr).
#
#   PY=$(scripts/python-env.sh) && "$PY" -m pytest tests/sdk/python -q
#
# The install is skipped when the requirements file is unchanged since the
# last successful install (a stamp file holds its sha256). Needs python3 (3.9+)
# with venv, or with pip (Debian without python3-venv: the venv is made
# without pip and the system pip installs pip into it). PYTHON overrides python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/sdk/py"
req="$root/tests/sdk/python/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"
log() { echo "python-env: $*" >&2; }

# a venv whose interpreter no longer runs (python upgraded or removed) is made anew
if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "removing broken virtualenv at $venv"
    rm -rf "$venv"
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating virtualenv at $venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv" >&2; then
        log "'$python -m venv' failed (no ensurepip?); retrying without pip"
        rm -rf "$venv"
        "$python" -m venv --without-pip "$venv" >&2
        "$python" -m pip --python "$venv/bin/python" install --disable-pip-version-check -q pip >&2 || {
            log "cannot bootstrap pip into $venv: install python3-venv (Debian) or python3-pip"
            exit 1
        }
    fi
fi

want="$( (sha256sum "$req" 2>/dev/null || shasum -a 256 "$req") | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    log "installing $req"
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2 || true
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
    echo "$want" > "$stamp"
fi

echo "$venv/bin/python"
