#!/usr/bin/env bash
# Every test of adminstats, on a fresh machine: formatting, lints, the Rust unit and end-to-end
# tests, and the official Lark SDKs (Python lark-oapi, Node @larksuiteoapi/node-sdk) against the
# real binary. Installs what it needs into target/ (Python venv, node_modules).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit and end-to-end, real binary on loopback; Parquet read back by pyarrow)"
ADMINSTATS_REQUIRE_PYARROW=1 cargo test --workspace --locked

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

step "fuzz targets, 20 seconds each (scripts/fuzz.sh)"
bash scripts/fuzz.sh 20

step "all tests passed"
