#!/usr/bin/env bash
# Installs (once) what the console's browser tests drive: Debian's Chromium, and a font with
# Chinese glyphs so that the screenshots of the Chinese pages and of the demo's Chinese names are
# readable. Playwright cannot download its own browser here; tests/console launches this one.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "chromium-env: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >&2; then
    $sudo apt-get update -q >&2
    $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
