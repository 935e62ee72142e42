#!/usr/bin/env bash
# Runs a command with Node >= 24 first on PATH and dependencies installed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$("$root/scripts/ensure-node.sh")"
export PATH="$bindir:$PATH"
if [ ! -d "$root/node_modules" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
exec "$@"
