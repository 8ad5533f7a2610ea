#!/usr/bin/env bash
# Installs (idempotently) the Node packages of a test suite into target/, from
# its package.json and committed package-lock.json (exact versions, `npm ci`),
# and prints the node_modules path on stdout (everything else goes to stderr):
# the official Lark/Feishu Node SDK (tests/sdk/node, the default, into
# target/sdk/node) or playwright-core for the console (tests/console, into
# target/console/node).
#
#   NODE_PATH=$(bash scripts/node-env.sh) node --test tests/sdk/node/
#   NODE_PATH=$(bash scripts/node-env.sh tests/console) node --test tests/console/
#
# The install is skipped when package.json and package-lock.json are unchanged
# since the last successful install (a stamp file holds their sha256) and the
# SDK is still there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite="${1:-tests/sdk/node}"
src="$root/$suite"
case "$suite" in
    tests/sdk/node) prefix="$root/target/sdk/node" ;;
    tests/console) prefix="$root/target/console/node" ;;
    *) echo "node-env: unknown suite $suite (tests/sdk/node or tests/console)" >&2; exit 2 ;;
esac
stamp="$prefix/.lock.sha256"
npm="${NPM:-npm}"

if ! command -v node >/dev/null 2>&1 || ! command -v "$npm" >/dev/null 2>&1; then
    echo "node-env: node and npm are required (Node >= 18; on Debian: apt-get install nodejs npm)" >&2
    exit 1
fi

sha() { (sha256sum "$@" 2>/dev/null || shasum -a 256 "$@") | cut -d' ' -f1 | tr -d '\n'; }
want="$(sha "$src/package.json")$(sha "$src/package-lock.json")"
have="$(cat "$stamp" 2>/dev/null || true)"

if [ "$want" != "$have" ] || [ ! -f "$prefix/node_modules/.package-lock.json" ]; then
    echo "node-env: installing $src/package-lock.json into $prefix" >&2
    mkdir -p "$prefix"
    rm -f "$stamp"
    cp "$src/package.json" "$src/package-lock.json" "$prefix/"
    # npm ci installs exactly what the lock says (and fails if it disagrees
    # with package.json); no lifecycle scripts are needed (playwright-core
    # downloads no browser: the tests use Debian's chromium).
    "$npm" ci --prefix "$prefix" --no-audit --no-fund --ignore-scripts --loglevel=error >&2
    echo "$want" > "$stamp"
fi

echo "$prefix/node_modules"
