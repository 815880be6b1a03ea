#!/usr/bin/env bash
# Installs what the console's browser tests need: Debian's Chromium (apt) when missing, and the
# pinned npm packages of tests/browser (playwright-core, which downloads no browser, and axe-core)
# with `npm ci` whenever package-lock.json changed since the last install. Safe to run concurrently.
#
# Environment: CHROMIUM (default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
DIR="tests/browser"
STAMP="$DIR/node_modules/.installed-lock"

mkdir -p target
exec 9>target/browser-deps.lock
flock 9

if [ ! -x "$CHROMIUM" ]; then
    echo "browser-deps: installing chromium (apt-get)" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
fi

command -v node >/dev/null || { echo "browser-deps: node (20 or later) is required" >&2; exit 1; }
if ! cmp -s "$DIR/package-lock.json" "$STAMP" 2>/dev/null; then
    echo "browser-deps: npm ci in $DIR" >&2
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$DIR/package-lock.json" "$STAMP"
fi
echo "$CHROMIUM"
