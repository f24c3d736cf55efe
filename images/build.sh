#!/usr/bin/env bash
# Build Bumper's images (web, worker, agent, redis) from the one Dockerfile, without a daemon:
# buildah with --isolation chroot and its layer cache (a warm rebuild takes seconds), on a
# Debian base made by images/base.sh. docker is used instead where buildah is missing and a
# docker daemon answers.
#
# Images: ghcr.io/bumper-dev/bumper-<target>:<version of pyproject.toml> in buildah's local
# storage (images/push.sh copies them to a registry, e.g. the test bed's).
#
# Usage: images/build.sh [target...]     (default: web worker agent redis)
# Env:   BUMPER_IMAGES_PREFIX (default ghcr.io/bumper-dev), BUMPER_IMAGES_CA (the CA bundle
#        package installs trust; default the host's)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
die() { echo "images: ERROR: $*" >&2; exit 1; }
say() { echo "images: $*" >&2; }

PREFIX="${BUMPER_IMAGES_PREFIX:-ghcr.io/bumper-dev}"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/pyproject.toml" | head -n1)"
[ -n "$VERSION" ] || die "cannot read the version from pyproject.toml"
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(web worker agent redis)
# The host's CA bundle: the mirror and PyPI may be reached through a proxy with its own CA.
CA="${BUMPER_IMAGES_CA:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$CA" ] || die "no CA bundle at $CA (set BUMPER_IMAGES_CA)"

# Debian packages, as the Makefile installs wrk: only when missing, apt-get update on a miss.
apt_install() {
  apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}
if command -v buildah >/dev/null && command -v debootstrap >/dev/null; then
  BUILDER=buildah
elif ! command -v buildah >/dev/null && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  BUILDER=docker
else
  say "installing buildah and debootstrap from Debian"
  apt_install buildah debootstrap || die "cannot install buildah/debootstrap with apt-get"
  BUILDER=buildah
fi

BASE="$(BUMPER_IMAGES_BUILDER="$BUILDER" bash "$HERE/base.sh")"

# helm and kustomize at exactly the test bed's versions: its own static builds (testbed/helm,
# testbed/kustomize tools modules), copied into the build context only when they changed.
TB_BIN="$(bash "$REPO/testbed/build.sh")"
mkdir -p "$HERE/tools"
for tool in helm kustomize; do
  [ -x "$TB_BIN/$tool" ] || die "$TB_BIN/$tool is missing (testbed/build.sh builds it)"
  cmp -s "$TB_BIN/$tool" "$HERE/tools/$tool" || cp -f "$TB_BIN/$tool" "$HERE/tools/$tool"
done

# A warm `buildah bud --layers` still copies the context and walks every step (tens of seconds
# for the four targets on a busy machine): when nothing the build reads has changed since the
# image was built (the stamp names the inputs and the image ID), the build is skipped.
STAMPS="${BUMPER_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bumper-images}/targets"
inputs_key() {  # everything the .dockerignore'd context holds, plus the base and the CA bundle
  { cd "$REPO" && cat Dockerfile .dockerignore pyproject.toml uv.lock README.md \
      images/tools/helm images/tools/kustomize "$CA" \
    && find bumper worker -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum; echo "$BASE $PREFIX $VERSION"; } | sha256sum | cut -c1-16
}
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }
KEY=""; [ "$BUILDER" = buildah ] && { KEY="$(inputs_key)"; mkdir -p "$STAMPS"; }

for target in "${TARGETS[@]}"; do
  name="$PREFIX/bumper-$target:$VERSION"
  stamp="$STAMPS/$target"
  if [ -n "$KEY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$KEY $(image_id "$name")" ]; then
    say "$name cache hit"; continue
  fi
  t0=$(date +%s)
  if [ "$BUILDER" = buildah ]; then
    buildah bud --quiet --layers --isolation chroot --target "$target" \
      --build-arg "BASE=$BASE" --build-arg "EXTRA=$target" --secret "id=hostca,src=$CA" \
      -f "$REPO/Dockerfile" -t "$name" "$REPO" >/dev/null
  else
    DOCKER_BUILDKIT=1 docker build --quiet --target "$target" --build-arg "BASE=$BASE" --build-arg "EXTRA=$target" \
      --secret "id=hostca,src=$CA" -f "$REPO/Dockerfile" -t "$name" "$REPO" >/dev/null
  fi
  [ -z "$KEY" ] || echo "$KEY $(image_id "$name")" >"$stamp"
  say "$name built in $(( $(date +%s) - t0 ))s"
done
