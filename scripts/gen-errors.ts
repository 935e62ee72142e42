/**
 * Renders docs/errors.md: every stable error code (`SBC_ERR_*`) found in the product sources,
 * with the files that raise it, so the registry STYLE.md asks for cannot drift from the code.
 * Called by scripts/gen.ts; the drift test in scripts/gen.test.ts covers it.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const SOURCE_DIRS = ['lib', 'cli', 'operator', 'signalling-pod', 'media-pod']
const CODE = /['"`](SBC_ERR_[A-Z0-9_]+)['"`]/g

function* sourceFiles(dir: string): Generator<string> {
  let entries: import('node:fs').Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, e.name)
    if (e.isDirectory()) {
      if (e.name === 'node_modules' || e.name === 'fixtures' || e.name === 'build') continue
      yield* sourceFiles(path)
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.contract.ts')) {
      yield path
    }
  }
}

/** Every code → the repository-relative files that mention it, both sorted. */
export function collectErrorCodes(root: string): Map<string, string[]> {
  const codes = new Map<string, Set<string>>()
  for (const dir of SOURCE_DIRS) {
    for (const file of sourceFiles(join(root, dir))) {
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(CODE)) {
        const code = m[1] as string
        let files = codes.get(code)
        if (!files) {
          files = new Set()
          codes.set(code, files)
        }
        files.add(relative(root, file))
      }
    }
  }
  return new Map([...codes.keys()].sort().map((c) => [c, [...(codes.get(c) ?? [])].sort()]))
}

export function renderErrorsDoc(root: string, header: string): string {
  const codes = collectErrorCodes(root)
  const lines = [
    header,
    '# Error codes',
    '',
    'Every error kube-sbc raises on purpose is an `SbcError` subclass (`lib/errors.ts`) with a stable',
    '`code`. Logs, metrics, CLI output and tests match on these codes, never on message text. The',
    'files listed define, raise or map the code; the defining class carries its TSDoc.',
    '',
    `${codes.size} codes.`,
    '',
    '| code | where |',
    '| --- | --- |',
  ]
  for (const [code, files] of codes)
    lines.push(`| \`${code}\` | ${files.map((f) => `\`${f}\``).join(', ')} |`)
  return `${lines.join('\n')}\n`
}
