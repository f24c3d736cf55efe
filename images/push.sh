#!/usr/bin/env bash
# Copy the images `make images` built to a registry, e.g. the test bed's (plain HTTP):
#   images/push.sh localhost:5000            -> localhost:5000/bumper-dev/bumper-<t>:<version>
#   images/push.sh localhost:5000 agent web  (only these targets)
# Prints one line per image: <reference>@<digest>, the digest the registry stored (what a
# pod's status.containerStatuses[].imageID names).
#
# Each image is compressed once into an OCI layout cached by image ID (buildah push oci:...):
# compressing the four images again for every push took minutes on a busy machine. The layout
# is then uploaded as it is by crane (the test bed's; `make images` builds the test bed first),
# which reads registry credentials from the Docker config ($DOCKER_CONFIG, `crane auth login`).
# Where buildah is missing and a docker daemon answers (as images/build.sh decides), the image
# is read from docker instead: `docker save` into a tarball cached by image ID, which crane
# uploads (compressing its layers on each push: docker has no compressed export).
# Env: BUMPER_IMAGES_PREFIX (where images/build.sh put them; default ghcr.io/bumper-dev),
#      BUMPER_IMAGES_TLS_VERIFY (default false: the test bed's registry speaks plain HTTP),
#      BUMPER_IMAGES_CACHE (as images/build.sh; the layouts go in its layouts/)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
die() { echo "images: ERROR: $*" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: $0 REGISTRY[:PORT] [target...]" >&2; exit 2; }
REGISTRY="$1"; shift
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(web worker agent redis)
PREFIX="${BUMPER_IMAGES_PREFIX:-ghcr.io/bumper-dev}"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/pyproject.toml" | head -n1)"
CRANE="$(bash "$REPO/testbed/build.sh" --bin-dir)/crane"
[ -x "$CRANE" ] || die "$CRANE is missing (make testbed builds it)"
INSECURE=(); [ "${BUMPER_IMAGES_TLS_VERIFY:-false}" = true ] || INSECURE=(--insecure)
if command -v buildah >/dev/null; then BUILDER=buildah
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then BUILDER=docker
else die "neither buildah nor a docker daemon is here (images/build.sh installs buildah)"; fi
LAYOUTS="${BUMPER_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bumper-images}/layouts"
mkdir -p "$LAYOUTS"
exec 9>"$LAYOUTS/.lock"
flock 9  # another worktree may be writing the same layout

for target in "${TARGETS[@]}"; do
  src="$PREFIX/bumper-$target:$VERSION"
  if [ "$BUILDER" = buildah ]; then
    id="$(buildah inspect --type image --format '{{.FromImageID}}' "$src" 2>/dev/null)" \
      || die "$src is not built (images/build.sh)"
    layout="$LAYOUTS/$target-${id:0:16}"
    if [ ! -s "$layout/index.json" ]; then
      rm -rf "$LAYOUTS/$target-"*  # the layouts of this target's older builds
      buildah push --quiet "$src" "oci:$layout.tmp" >/dev/null
      mv "$layout.tmp" "$layout"
    fi
  else
    id="$(docker image inspect --format '{{.Id}}' "$src" 2>/dev/null)" \
      || die "$src is not built (images/build.sh)"
    id="${id#sha256:}"
    layout="$LAYOUTS/$target-${id:0:16}.tar"  # crane reads a docker-save tarball as it is
    if [ ! -s "$layout" ]; then
      rm -rf "$LAYOUTS/$target-"*
      docker save -o "$layout.tmp" "$src"
      mv "$layout.tmp" "$layout"
    fi
  fi
  dest="$REGISTRY/bumper-dev/bumper-$target:$VERSION"
  ref="$("$CRANE" push "${INSECURE[@]}" "$layout" "$dest" 2>/dev/null)" \
    || die "crane push $dest failed"
  echo "$dest@${ref##*@}"
done
