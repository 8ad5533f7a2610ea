#!/usr/bin/env bash
# Installs (idempotently) the official Lark/Feishu Node SDK used by the Node
# SDK test suite into target/sdk/node, from tests/sdk/node/package.json and its
# committed package-lock.json (exact versions, `npm ci`), and prints the
# node_modules path on stdout (everything else goes to stderr).
#
#   NODE_PATH=$(bash scripts/node-env.sh) node --test tests/sdk/node/
#
# The install is skipped when package.json and package-lock.json are unchanged
# since the last successful install (a stamp file holds their sha256) and the
# SDK is still there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tests/sdk/node"
prefix="$root/target/sdk/node"
stamp="$prefix/.lock.sha256"
npm="${NPM:-npm}"

if ! command -v node >/dev/null 2>&1 || ! command -v "$npm" >/dev/null 2>&1; then
    echo "node-env: node and npm are required (Node >= 18; on Debian: apt-get install nodejs npm)" >&2
    exit 1
fi

sha() { (sha256sum "$@" 2>/dev/null || shasum -a 256 "$@") | cut -d' ' -f1 | tr -d '\n'; }
want="$(sha "$src/package.json")$(sha "$src/package-lock.json")"
have="$(cat "$stamp" 2>/dev/null || true)"

if [ "$want" != "$have" ] || [ ! -f "$prefix/node_modules/@larksuiteoapi/node-sdk/package.json" ]; then
    echo "node-env: installing $src/package-lock.json into $prefix" >&2
    mkdir -p "$prefix"
    rm -f "$stamp"
    cp "$src/package.json" "$src/package-lock.json" "$prefix/"
    # npm ci installs exactly what the lock says (and fails if it disagrees
    # with package.json); no lifecycle scripts are needed by the SDK.
    "$npm" ci --prefix "$prefix" --no-audit --no-fund --ignore-scripts --loglevel=error >&2
    echo "$want" > "$stamp"
fi

echo "$prefix/node_modules"
