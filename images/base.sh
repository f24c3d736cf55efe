#!/usr/bin/env bash
# The images' Debian base, built with debootstrap --variant=minbase from the mirror the host's
# apt uses (no Docker Hub here), and imported FROM scratch into buildah's local storage.
#
# Cached outside the repo under ${BUMPER_IMAGES_CACHE:-~/.cache/bumper-images}/<key>/, where
# <key> = release + a hash of the package list, mirror and BUILD_REV: the rootfs tarball is
# built once; a stamp plus a flock (as testbed/build.sh) make reruns a cache hit in about a
# second. When the tarball is cached but the image is gone from buildah's storage, only the
# import runs again, after checking that the tarball still has the digest its name carries.
#
# Pinned by content, not by a snapshot mirror (none is reachable here; docs/images.md): the
# image is named localhost/bumper-base:<codename>-<point release>-<archive date>-<digest>,
# e.g. bookworm-12.15-20261115-3f9a0c1d2e4b: the Debian point release inside the tree, the Date
# of the mirror's Release file the packages came from (what a snapshot.debian.org URL takes),
# and the first 12 hex digits of the rootfs tarball's sha256 (its label bumper.base.rootfs
# holds all of it). A base built later from a moved mirror gets another name; the one a
# machine built stays the base of every image built there until its cache is removed.
#
# Usage: images/base.sh          build/import if needed, print the image name
#        images/base.sh --name   print the name of the cached base (fails when none is built)
# Env:   BUMPER_IMAGES_CACHE, BUMPER_BASE_RELEASE (default: the host's codename), BUMPER_BASE_MIRROR
set -euo pipefail

die() { echo "images: ERROR: $*" >&2; exit 1; }
say() { echo "images: $*" >&2; }

# The host's release, so the image's libraries match what the host's tests ran against.
RELEASE="${BUMPER_BASE_RELEASE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
# The first Debian mirror in apt's own sources (deb822 or one-line form): the one this machine
# can reach. deb.debian.org otherwise.
host_mirror() {
  { { grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources || true; } | awk '{print $2}'
    { grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } | awk '{print $2}'
  } | grep -E '/debian/?$' | head -n1 || true
}
MIRROR="${BUMPER_BASE_MIRROR:-$(host_mirror)}"; MIRROR="${MIRROR:-http://deb.debian.org/debian}"
# minbase plus what every image needs: TLS roots (git/pip/requests in the images; the host's
# own extra roots are added at build time, see images/build.sh) and tzdata-free C.UTF-8 locale
# (in libc). Everything else is installed per target by the Dockerfile.
PACKAGES="ca-certificates"
BUILD_REV=3  # bump when the rootfs recipe below changes
KEY="$RELEASE-$(echo "$PACKAGES $MIRROR $BUILD_REV" | sha256sum | cut -c1-12)"

CACHE="${BUMPER_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bumper-images}"
DIR="$CACHE/$KEY"
# The stamp is "<key> <image name>", written once the tarball is complete.
built_name() { local k n; read -r k n 2>/dev/null <"$DIR/.stamp" && [ "$k" = "$KEY" ] && echo "$n"; }
if [ "${1:-}" = "--name" ]; then
  built_name || die "no base is built under $DIR (run images/base.sh)"; exit 0
fi
BUILDER="${BUMPER_IMAGES_BUILDER:-buildah}"  # images/build.sh says docker where it uses docker
have_image() {
  if [ "$BUILDER" = docker ]; then docker image inspect "$1" >/dev/null 2>&1
  else buildah inspect --type image "$1" >/dev/null 2>&1; fi
}
fresh() { [ -s "$DIR/rootfs.tar" ] && NAME="$(built_name)" && have_image "$NAME"; }

command -v "$BUILDER" >/dev/null || die "$BUILDER is required (images/build.sh installs buildah)"
if fresh; then say "base cache hit ($NAME)"; echo "$NAME"; exit 0; fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
if ! flock -n 9; then say "another build holds $DIR/.lock; waiting"; flock 9; fi
if fresh; then say "base cache hit ($NAME)"; echo "$NAME"; exit 0; fi

if [ -z "$(built_name)" ] || [ ! -s "$DIR/rootfs.tar" ]; then
  command -v debootstrap >/dev/null || die "debootstrap is required (images/build.sh installs it)"
  T0=$(date +%s)
  say "debootstrap $RELEASE from $MIRROR (about a minute; log: $DIR/debootstrap.log)"
  rm -rf "$DIR/rootfs" "$DIR/.stamp"
  if ! debootstrap --variant=minbase --include="${PACKAGES// /,}" "$RELEASE" "$DIR/rootfs" \
      "$MIRROR" >"$DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$DIR/debootstrap.log" >&2; die "debootstrap failed; log in $DIR/debootstrap.log"
  fi
  # The archive's state the packages came from: the Date of the suite's Release file.
  release_file="$( { ls "$DIR"/rootfs/var/lib/apt/lists/*_dists_"${RELEASE}"_*Release 2>/dev/null || true; } | head -n1)"
  [ -n "$release_file" ] || die "debootstrap left no Release file of $RELEASE"
  ARCHIVE_DATE="$(date -u -d "$(sed -n 's/^Date: //p' "$release_file" | head -n1)" +%Y%m%d)" \
    || die "no Date in $release_file"
  POINT="$(cat "$DIR/rootfs/etc/debian_version")"
  # Images carry no package caches or indexes (the Dockerfile runs apt-get update itself), and
  # the same sources the host uses, security updates included.
  rm -rf "$DIR"/rootfs/var/cache/apt/*.bin "$DIR"/rootfs/var/cache/apt/archives/*.deb \
         "$DIR"/rootfs/var/lib/apt/lists/* "$DIR"/rootfs/var/log/*.log
  # No docs, man pages or translations, now or in later installs (as Debian's -slim images):
  # about 45 MB of the 130 MB minbase. Copyright files stay.
  cat >"$DIR/rootfs/etc/dpkg/dpkg.cfg.d/bumper-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
SLIM
  find "$DIR/rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  rm -rf "$DIR"/rootfs/usr/share/{man,info,locale,lintian}/*
  SEC="${MIRROR%/debian}/debian-security"
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
    "$MIRROR" "$RELEASE" "$MIRROR" "$RELEASE" "$SEC" "$RELEASE" >"$DIR/rootfs/etc/apt/sources.list"
  # Fixed mtimes: the same packages give the same layer, so the Dockerfile's cache stays warm.
  tar --numeric-owner --sort=name --mtime=@0 -C "$DIR/rootfs" -cf "$DIR/rootfs.tar.tmp" .
  mv -f "$DIR/rootfs.tar.tmp" "$DIR/rootfs.tar"
  rm -rf "$DIR/rootfs"
  DIGEST="$(sha256sum "$DIR/rootfs.tar" | cut -c1-64)"
  echo "$DIGEST" >"$DIR/rootfs.sha256"
  echo "$KEY localhost/bumper-base:$RELEASE-$POINT-$ARCHIVE_DATE-${DIGEST:0:12}" >"$DIR/.stamp"
  say "debootstrap done in $(( $(date +%s) - T0 ))s"
fi
NAME="$(built_name)"
# The tarball must still be what the name pins (a cache edited or cut short is refused).
DIGEST="$(sha256sum "$DIR/rootfs.tar" | cut -c1-64)"
[ "${NAME##*-}" = "${DIGEST:0:12}" ] && [ "$(cat "$DIR/rootfs.sha256")" = "$DIGEST" ] \
  || die "$DIR/rootfs.tar no longer has the digest of $NAME: remove $DIR and run again"

# FROM scratch + the rootfs tarball (buildah add unpacks it), under the pinned name.
if [ "$BUILDER" = docker ]; then
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    --change "LABEL bumper.base=$KEY bumper.base.rootfs=sha256:$DIGEST" "$DIR/rootfs.tar" "$NAME" >/dev/null
  say "imported $NAME"; echo "$NAME"; exit 0
fi
CTR="$(buildah from scratch)"
trap 'buildah rm "$CTR" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$CTR" "$DIR/rootfs.tar" / >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd /bin/bash --label "bumper.base=$KEY" \
  --label "bumper.base.rootfs=sha256:$DIGEST" "$CTR"
buildah commit --quiet --rm "$CTR" "$NAME" >/dev/null
trap - EXIT
say "imported $NAME"
echo "$NAME"
