import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './helm-binary.ts'

/**
 * The chart carries a copy of the generated CRDs (Helm installs `crds/` before templates and never
 * upgrades or deletes them). `node test/helm/sync-crds.ts` refreshes the copy from the repository's
 * `crds/`; `crdDrift()` lists the differences, and a test fails while there are any.
 */
export const sourceDir = join(repoRoot, 'crds')
export const chartCrdDir = join(repoRoot, 'helm', 'kube-sbc', 'crds')

const yamlFiles = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
        .sort()
    : []

/** Human-readable differences between `crds/` and the chart's copy; empty when in sync. */
export function crdDrift(): string[] {
  const src = yamlFiles(sourceDir)
  const dst = new Set(yamlFiles(chartCrdDir))
  const drift: string[] = []
  for (const f of src) {
    if (!dst.has(f)) drift.push(`missing in chart: ${f}`)
    else if (!readFileSync(join(sourceDir, f)).equals(readFileSync(join(chartCrdDir, f))))
      drift.push(`differs: ${f}`)
    dst.delete(f)
  }
  for (const f of dst) drift.push(`stale in chart (not in crds/): ${f}`)
  return drift
}

/** Makes the chart's crds/ an exact copy of crds/*.yaml; returns what it changed. */
export function syncCrds(): string[] {
  const drift = crdDrift()
  mkdirSync(chartCrdDir, { recursive: true })
  for (const f of yamlFiles(chartCrdDir)) if (!existsSync(join(sourceDir, f))) rmSync(join(chartCrdDir, f))
  for (const f of yamlFiles(sourceDir)) copyFileSync(join(sourceDir, f), join(chartCrdDir, f))
  return drift
}

if (import.meta.main) {
  const changed = syncCrds()
  console.log(changed.length ? changed.join('\n') : 'helm/kube-sbc/crds is up to date')
}
