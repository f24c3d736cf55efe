#!/usr/bin/env bash
# Install Renovate (pinned) from the npm registry into a per-version cache outside the repo,
# for the recall test (tests/recall/test_renovate_recall.py). Idempotent, under a lock; a
# cache hit takes well under a second. Prints the install directory.
set -euo pipefail
VERSION=39.264.1  # the last 39.x: it runs on Node 20 (40+ need Node 22)
DIR="${BUMPER_RENOVATE_CACHE:-$HOME/.cache/bumper-renovate}/$VERSION"
STAMP="$DIR/.installed"
if [ "${1:-}" = "--dir" ]; then echo "$DIR"; exit 0; fi
if [ -f "$STAMP" ]; then echo "$DIR"; exit 0; fi
command -v npm >/dev/null || { echo "install_renovate: npm is missing (Node 20 + npm)" >&2; exit 1; }
mkdir -p "$DIR"
exec 9>"$DIR.lock"
flock 9
if [ ! -f "$STAMP" ]; then
  [ -f "$DIR/package.json" ] || echo '{"private": true}' > "$DIR/package.json"
  # --ignore-scripts --omit=optional: only the JavaScript the managers' extract functions need.
  npm install --prefix "$DIR" --no-audit --no-fund --ignore-scripts --omit=optional \
    --loglevel=error "renovate@$VERSION" >&2
  touch "$STAMP"
fi
echo "$DIR"
