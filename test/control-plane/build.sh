#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok)
# from the Go module proxy into $KUBE_SBC_CACHE/k8s-bin/<version>/ (default ~/.cache/kube-sbc: outside
# the clone, so a fresh clone on a machine that built once reuses them; version-keyed). Idempotent: a binary
# already built for its version is skipped, so a warm run costs only a few `--version` calls.
# See docs/control-plane.md and docs/adr/0060-test-control-plane-from-go-modules.md.
#
# Usage: test/control-plane/build.sh [--force]
#   --force    rebuild even when the binaries are present
# Environment: GO (default: go). Go's module and build caches stay at their defaults on purpose,
# so a machine that already built once (or CI with a cached GOMODCACHE/GOCACHE) builds fast.
set -euo pipefail

# Versions. Bump K8S_VERSION and the replace block of k8s-bin/go.mod together (staging modules are
# tagged v0.<minor>.<patch>), then `go mod tidy` in k8s-bin.
K8S_VERSION=v1.33.13
ETCD_VERSION=v3.5.21
KWOK_VERSION=v0.7.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${KUBE_SBC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-sbc}/k8s-bin"
k8s_out="$cache/$K8S_VERSION"
etcd_out="$cache/etcd-$ETCD_VERSION"
kwok_out="$cache/kwok-$KWOK_VERSION"
GO="${GO:-go}"
force=0
[ "${1:-}" = "--force" ] && force=1

# Never fetch another toolchain; static binaries, no C compiler needed.
export GOTOOLCHAIN=local CGO_ENABLED=0
# The machines are shared: keep the compiler polite.
nice_go() { nice -n 10 "$GO" "$@"; }

log() { printf '[control-plane/build] %s\n' "$*"; }

# present <binary> <expected substring of --version output>
present() {
  [ "$force" = 0 ] && [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qF -- "$2"
}

start=$(date +%s)

# --- Kubernetes ---------------------------------------------------------------------------------
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler)
need_k8s=0
for b in "${k8s_bins[@]}"; do present "$k8s_out/$b" "Kubernetes $K8S_VERSION" || need_k8s=1; done
if [ "$need_k8s" = 1 ]; then
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  # The version variables Kubernetes' own build sets; without them /version says v0.0.0-master and
  # the kubectl dispatcher (which picks kubectl.1.NN from /version) cannot choose.
  ldflags="-s -w
    -X k8s.io/component-base/version.gitVersion=$K8S_VERSION
    -X k8s.io/component-base/version.gitMajor=1
    -X k8s.io/component-base/version.gitMinor=$minor
    -X k8s.io/component-base/version.gitTreeState=clean
    -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z
    -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION
    -X k8s.io/client-go/pkg/version.gitMajor=1
    -X k8s.io/client-go/pkg/version.gitMinor=$minor
    -X k8s.io/client-go/pkg/version.gitTreeState=clean
    -X k8s.io/client-go/pkg/version.buildDate=1970-01-01T00:00:00Z"
  log "building Kubernetes $K8S_VERSION into $k8s_out"
  mkdir -p "$k8s_out"
  s=$(date +%s)
  (cd "$here/k8s-bin" && nice_go build -trimpath -ldflags "$ldflags" -o "$k8s_out/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
  log "Kubernetes built in $(( $(date +%s) - s )) s"
  for b in "${k8s_bins[@]}"; do present "$k8s_out/$b" "Kubernetes $K8S_VERSION" || { log "$b --version is wrong"; exit 1; }; done
else
  log "Kubernetes $K8S_VERSION already built"
fi

# --- etcd (its own wrapper, so it keeps its own grpc/otel versions) ------------------------------
if ! present "$etcd_out/etcd" "etcd Version: ${ETCD_VERSION#v}"; then
  log "building etcd $ETCD_VERSION into $etcd_out"
  mkdir -p "$etcd_out"
  s=$(date +%s)
  # etcd's own build stamps the git SHA only; the version string is a constant in the source.
  (cd "$here/etcd-bin" && nice_go build -trimpath -ldflags "-s -w" -o "$etcd_out/etcd" go.etcd.io/etcd/server/v3)
  log "etcd built in $(( $(date +%s) - s )) s"
  present "$etcd_out/etcd" "etcd Version: ${ETCD_VERSION#v}" || { log "etcd --version is wrong"; exit 1; }
else
  log "etcd $ETCD_VERSION already built"
fi

# --- kwok (fake kubelet) ------------------------------------------------------------------------
if ! present "$kwok_out/kwok" "$KWOK_VERSION"; then
  log "building kwok $KWOK_VERSION into $kwok_out"
  mkdir -p "$kwok_out"
  s=$(date +%s)
  # kwok's version is a source constant (sigs.k8s.io/kwok/pkg/consts.Version), right for the tag.
  (cd "$here/kwok-bin" && nice_go build -trimpath -ldflags "-s -w" -o "$kwok_out/kwok" sigs.k8s.io/kwok/cmd/kwok)
  log "kwok built in $(( $(date +%s) - s )) s"
  present "$kwok_out/kwok" "$KWOK_VERSION" || { log "kwok --version is wrong"; exit 1; }
else
  log "kwok $KWOK_VERSION already built"
fi

log "done in $(( $(date +%s) - start )) s: $k8s_out $etcd_out $kwok_out"
