#!/usr/bin/env bash
# The README's test command (`npm test`): generated-file integrity, types, lint, then every test
# level (unit, integration with real Redis/SIPp/libsrtp, control plane, end to end) under c8.
# Prerequisites (Debian packages, control-plane binaries) are installed by .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "== typecheck (tsc $(npx tsc --version))"
npx tsc -p tsconfig.json
echo "== lint (biome)"
npx biome check --diagnostic-level=error .
echo "== tests (mocha under c8, node $(node --version))"
npx c8 mocha "$@"
