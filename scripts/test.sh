#!/usr/bin/env bash
# Every test of adminstats, on a fresh machine: formatting, lints, the Rust unit and end-to-end
# tests, the official Lark SDKs (Python lark-oapi, Node @larksuiteoapi/node-sdk) against the
# real binary, and the web console in Chromium. Installs what it needs into target/ (Python venv,
# node_modules) and, once, Debian's chromium and a Chinese font with apt-get.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s (%s, %ss in)\n' "$*" "$(date +%T)" "$SECONDS" >&2; }

# PostgreSQL for the --store tests: started if it is installed but not running. Each test makes a
# database of its own on ADMINSTATS_TEST_PG; with CI set, an unreachable server fails them.
export ADMINSTATS_TEST_PG="${ADMINSTATS_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_up() { pg_isready -q -d "$ADMINSTATS_TEST_PG" 2>/dev/null; }
if ! pg_up && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    step "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then
    have_pg=1
elif [ -n "${CI:-}" ]; then
    echo "error: no PostgreSQL at $ADMINSTATS_TEST_PG, and CI is set: the PostgreSQL tests cannot be skipped" >&2
    exit 1
else
    have_pg=0
    echo "note: no PostgreSQL at $ADMINSTATS_TEST_PG: its tests are skipped (set ADMINSTATS_TEST_PG=postgres://USER@HOST:PORT/DB to run them)" >&2
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit and end-to-end, real binary on loopback; Parquet read back by pyarrow)"
ADMINSTATS_REQUIRE_PYARROW=1 cargo test --workspace --locked

if [ "$have_pg" = 1 ]; then
    step "the API's end-to-end tests again, every server over PostgreSQL (ADMINSTATS_TEST_STORE=postgres)"
    ADMINSTATS_TEST_STORE=postgres cargo test -p adminstats --test api --locked
fi

# cargo test built the binary the integration tests ran; the SDK suites use the same one.
bin="$PWD/target/debug/adminstats"
test -x "$bin"

step "installing the official SDKs into target/sdk (Python venv, node_modules)"
py="$(bash scripts/python-env.sh)"
node_path="$(bash scripts/node-env.sh)"

step "Python SDK (lark-oapi) and /openapi.json (schemathesis) against the real binary"
ADMINSTATS_BIN="$bin" NODE_PATH="$node_path" "$py" -m pytest tests/sdk/python -q

step "Node SDK (@larksuiteoapi/node-sdk) against the real binary"
ADMINSTATS_BIN="$bin" NODE_PATH="$node_path" node --test tests/sdk/node/

step "the web console in Chromium (playwright-core); screenshots in target/console-screenshots"
bash scripts/chromium-env.sh
console_path="$(bash scripts/node-env.sh tests/console)"
ADMINSTATS_BIN="$bin" NODE_PATH="$console_path" node --test tests/console/

if [ "$have_pg" = 1 ]; then
    # Each server of the suites is two instances over one PostgreSQL database, behind a proxy that
    # alternates requests between them (tests/sdk/alternate.py): every page from the other one.
    step "Python SDK against two instances over PostgreSQL, alternating requests"
    ADMINSTATS_SDK_STORE=postgres ADMINSTATS_BIN="$bin" NODE_PATH="$node_path" "$py" -m pytest tests/sdk/python -q
    step "Node SDK against two instances over PostgreSQL, alternating requests"
    ADMINSTATS_SDK_STORE=postgres ADMINSTATS_PY="$py" ADMINSTATS_BIN="$bin" NODE_PATH="$node_path" \
        node --test tests/sdk/node/
fi

step "fuzz targets, 20 seconds each (scripts/fuzz.sh)"
bash scripts/fuzz.sh 20

step "all tests passed"
