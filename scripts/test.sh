#!/usr/bin/env bash
# The README's test command (`npm test`): types, lint, then every test level (unit, integration
# with real Redis/SIPp/libsrtp, control plane, end to end) under c8. Generated-file integrity is
# itself a test. Prerequisites (Debian packages, control-plane binaries) are installed by .ci/run.
# Arguments, if any, replace the default spec glob (e.g. `npm test -- lib/sip/**/*.test.ts`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "== typecheck (tsc $(npx tsc --version))"
npx tsc -p tsconfig.json
echo "== lint (biome)"
npx biome check --diagnostic-level=error .
echo "== tests (mocha under c8, node $(node --version))"
if [ "$#" -eq 0 ]; then
  set -- '{lib,cli,operator,signalling-pod,media-pod,test,e2e,scripts}/**/*.test.ts'
fi
npx c8 mocha "$@"
