#!/usr/bin/env bash
# Copy the images `make images` built to a registry, e.g. the test bed's (plain HTTP):
#   images/push.sh localhost:5000            -> localhost:5000/bumper-dev/bumper-<t>:<version>
#   images/push.sh localhost:5000 agent web  (only these targets)
# Prints one line per image: <reference>@<digest>, the digest the registry stored (what a
# pod's status.containerStatuses[].imageID names).
# Env: BUMPER_IMAGES_PREFIX (where images/build.sh put them; default ghcr.io/bumper-dev),
#      BUMPER_IMAGES_TLS_VERIFY (default false: the test bed's registry speaks plain HTTP)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 REGISTRY[:PORT] [target...]" >&2; exit 2; }
REGISTRY="$1"; shift
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(web worker agent redis)
PREFIX="${BUMPER_IMAGES_PREFIX:-ghcr.io/bumper-dev}"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$(dirname "$HERE")/pyproject.toml" | head -n1)"
DIGESTS="$(mktemp)"; trap 'rm -f "$DIGESTS"' EXIT

for target in "${TARGETS[@]}"; do
  dest="$REGISTRY/bumper-dev/bumper-$target:$VERSION"
  buildah push --quiet --tls-verify="${BUMPER_IMAGES_TLS_VERIFY:-false}" --digestfile "$DIGESTS" \
    "$PREFIX/bumper-$target:$VERSION" "docker://$dest" >/dev/null
  echo "$dest@$(cat "$DIGESTS")"
done
