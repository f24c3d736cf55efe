#!/usr/bin/env bash
# Build the test bed's binaries from the Go module proxy into a per-version cache outside the repo.
#
# Each sub-directory of testbed/ holding a go.mod is a "tools" module that pins one tool (or, for
# k8s/, the control plane + etcd + kubectl) by its committed go.mod/go.sum. This script only runs
# `go build` inside those modules, so the result is reproducible and needs no version resolution.
#
# Idempotent: every binary carries a stamp (hash of its module's go.mod/go.sum and its ldflags);
# when all stamps match, the script exits within a second ("cache hit"). A flock serialises
# concurrent runs (several worktrees running `make test` at once never build twice).
#
# Usage: testbed/build.sh            build what is missing, print the bin dir
#        testbed/build.sh --bin-dir  print the bin dir only (no build)
# Env:   BUMPER_TESTBED_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/bumper-testbed)
#        TESTBED_GO_P         go build -p (default 2; the machines are small)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${BUMPER_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bumper-testbed}"

die() { echo "testbed: ERROR: $*" >&2; exit 1; }
say() { echo "testbed: $*" >&2; }

# The Kubernetes version is whatever the committed k8s tools module pins: one source of truth.
K8S_VERSION="$(grep -oE '(^|[[:space:]])k8s\.io/kubernetes v[0-9]+\.[0-9]+\.[0-9]+' "$HERE/k8s/go.mod" \
  | awk 'NR == 1 {print $2}')"
[ -n "$K8S_VERSION" ] || die "cannot read the k8s.io/kubernetes version from $HERE/k8s/go.mod"
K8S_MINOR="${K8S_VERSION#v1.}"; K8S_MINOR="${K8S_MINOR%%.*}"
ROOT="$CACHE/$K8S_VERSION"
BIN="$ROOT/bin"

if [ "${1:-}" = "--bin-dir" ]; then echo "$BIN"; exit 0; fi

# name | tools module dir | package | ldflags (evaluated lazily: some need `go list`)
TOOLS=(
  "kube-apiserver|k8s|k8s.io/kubernetes/cmd/kube-apiserver|k8s"
  "kube-controller-manager|k8s|k8s.io/kubernetes/cmd/kube-controller-manager|k8s"
  "kube-scheduler|k8s|k8s.io/kubernetes/cmd/kube-scheduler|k8s"
  "kubectl|k8s|k8s.io/kubernetes/cmd/kubectl|k8s"
  "etcd|k8s|go.etcd.io/etcd/server/v3|etcd"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|kwok"
  "helm|helm|helm.sh/helm/v3/cmd/helm|helm"
  "registry|registry|github.com/distribution/distribution/v3/cmd/registry|registry"
  "crane|crane|github.com/google/go-containerregistry/cmd/crane|crane"
  "kustomize|kustomize|sigs.k8s.io/kustomize/kustomize/v5|kustomize"
  # Signs images in the registry for the signature-verification tests (issue 20).
  "cosign|cosign|github.com/sigstore/cosign/v2/cmd/cosign|cosign"
  # The real node (testbed/node.sh): its own module, so moving it never rebuilds the control plane.
  "kubelet|node|k8s.io/kubernetes/cmd/kubelet|k8s"
  "kube-proxy|node|k8s.io/kubernetes/cmd/kube-proxy|k8s"
  # Static binaries that become the node's images (FROM scratch): pause and a tiny HTTP server.
  "pause|nodeimages|bumper.local/testbed/nodeimages/pause|plain"
  "hello|nodeimages|bumper.local/testbed/nodeimages/hello|plain"
  # The node's cluster DNS: CoreDNS with only the plugins its Corefile uses (testbed/coredns).
  "coredns|coredns|bumper.local/testbed/coredns|plain"
)

# Version of a module as the tools module resolves it (reads go.mod/go.sum only; no network).
modver() { (cd "$HERE/$1" && go list -m -f '{{.Version}}' "$2"); }

ldflags() {  # $1 = flavour
  local ld="-s -w" p v
  case "$1" in
    k8s)
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$K8S_MINOR"
        ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
      done ;;
    etcd)
      ld="$ld -X go.etcd.io/etcd/api/v3/version.GitSHA=$(modver k8s go.etcd.io/etcd/server/v3)" ;;
    kwok)
      v="$(modver kwok sigs.k8s.io/kwok)"
      ld="$ld -X sigs.k8s.io/kwok/pkg/consts.Version=${v#v}" ;;
    helm)
      # helm v3 derives its default .Capabilities.KubeVersion from these (else it assumes 1.20).
      v="$(modver helm k8s.io/client-go)"; v="${v#v0.}"; v="${v%%.*}"
      ld="$ld -X helm.sh/helm/v3/internal/version.version=$(modver helm helm.sh/helm/v3)"
      ld="$ld -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
      for p in pkg/chartutil pkg/lint/rules; do
        ld="$ld -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$v"
      done ;;
    registry)
      p=github.com/distribution/distribution/v3
      ld="$ld -X $p/version.version=$(modver registry $p) -X $p/version.mainpkg=$p" ;;
    crane)
      ld="$ld -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$(modver crane \
        github.com/google/go-containerregistry)" ;;
    cosign)
      ld="$ld -X sigs.k8s.io/release-utils/version.gitVersion=$(modver cosign \
        github.com/sigstore/cosign/v2)" ;;
    kustomize)
      ld="$ld -X sigs.k8s.io/kustomize/api/provenance.version=$(modver kustomize \
        sigs.k8s.io/kustomize/kustomize/v5)" ;;
  esac
  echo "$ld"
}

# The stamp covers what decides the binary: the module's go.mod/go.sum, the package, the Go
# version and BUILD_REV (bump it when the ldflags logic changes). It reads files only, so a cache
# hit stays fast.
BUILD_REV=1
stamp_of() {  # $1 = module dir, $2 = package
  # Modules with their own sources (nodeimages/) hash those too; the others have none, so their
  # stamps are unchanged.
  cat "$HERE/$1/go.mod" "$HERE/$1/go.sum" $(find "$HERE/$1" -name '*.go' | LC_ALL=C sort) | sha256sum | cut -c1-16 | tr -d '\n'
  echo "-$(echo "$2 $BUILD_REV $GOV" | sha256sum | cut -c1-16)"
}

missing() {  # prints the names whose binary or stamp is missing/stale
  local entry name mod pkg
  for entry in "${TOOLS[@]}"; do
    IFS='|' read -r name mod pkg _ <<<"$entry"
    if [ ! -x "$BIN/$name" ] || [ "$(cat "$BIN/.$name.stamp" 2>/dev/null)" != "$(stamp_of "$mod" "$pkg")" ]; then
      echo "$name"
    fi
  done
  [ -s "$ROOT/kwok-stages.yaml" ] || echo "kwok-stages"
}

command -v go >/dev/null || die "Go is required (the control plane is built from the Go module proxy). Install Go >= 1.26."
GOV="$(go env GOVERSION)"; GOMINOR="${GOV#go1.}"; GOMINOR="${GOMINOR%%.*}"
[ "${GOMINOR:-0}" -ge 26 ] 2>/dev/null || die "Go >= 1.26 is required, found $GOV"

TODO="$(missing)"
if [ -z "$TODO" ]; then say "cache hit ($K8S_VERSION) in $BIN"; echo "$BIN"; exit 0; fi

mkdir -p "$BIN"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then say "another build holds $CACHE/.lock; waiting for it"; flock 9; fi
TODO="$(missing)"   # the other build may have done our work
if [ -z "$TODO" ]; then say "cache hit ($K8S_VERSION) in $BIN"; echo "$BIN"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
LOG="$ROOT/build.log"
say "building into $BIN: $(echo $TODO | tr '\n' ' ')(log: $LOG; a cold build takes tens of minutes)"
T0=$(date +%s)

build_one() {  # $1 name $2 mod $3 pkg $4 flavour
  local t=$(date +%s) ld
  ld="$(ldflags "$4")" || die "cannot compute ldflags for $1 (module testbed/$2)"
  say "  $1 ..."
  if ! (cd "$HERE/$2" && go build -p "${TESTBED_GO_P:-2}" -ldflags "$ld" -o "$BIN/.$1.tmp" "$3") \
      >>"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    die "go build of $3 (testbed/$2) failed; full log in $LOG"
  fi
  mv -f "$BIN/.$1.tmp" "$BIN/$1"
  stamp_of "$2" "$3" >"$BIN/.$1.stamp"
  say "  $1 done in $(( $(date +%s) - t ))s"
}

for entry in "${TOOLS[@]}"; do
  IFS='|' read -r name mod pkg flavour <<<"$entry"
  if grep -qx "$name" <<<"$TODO"; then build_one "$name" "$mod" "$pkg" "$flavour"; fi
done

# kwok has no built-in stages when run standalone: take the "fast" ones from kwok's own module
# (nothing copied into the repo). The fixture appends the repo's own stages (testbed/stages/).
KWOK_DIR="$(cd "$HERE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
if [ -z "$KWOK_DIR" ] || [ ! -d "$KWOK_DIR/kustomize/stage" ]; then
  (cd "$HERE/kwok" && go mod download sigs.k8s.io/kwok) >>"$LOG" 2>&1 || die "cannot download kwok"
  KWOK_DIR="$(cd "$HERE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
fi
S="$KWOK_DIR/kustomize/stage"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  [ -f "$S/$f" ] || die "kwok stage $f not found in $S"
  cat "$S/$f"; echo "---"
done >"$ROOT/kwok-stages.yaml.tmp"
mv -f "$ROOT/kwok-stages.yaml.tmp" "$ROOT/kwok-stages.yaml"

say "built in $(( $(date +%s) - T0 ))s; versions:"
"$BIN/kube-apiserver" --version >&2
"$BIN/etcd" --version 2>&1 | sed -n 1p >&2  # sed reads to the end: no SIGPIPE under pipefail
"$BIN/helm" version --short >&2
echo "$BIN"
