import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { helmBinary, repoRoot } from './helm-binary.ts'

/** Helpers shared by the chart tests: run helm, render the chart, walk what it renders. */

export const chartDir = join(repoRoot, 'helm', 'kube-sbc')
export const fixturesDir = join(repoRoot, 'test', 'helm', 'fixtures')

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
  }
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary YAML; tests narrow them.
  spec?: any
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  [key: string]: any
}

export interface HelmResult {
  status: number | null
  stdout: string
  stderr: string
}

export function helmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(repoRoot, '.cache', 'helm-home'),
    HELM_CACHE_HOME: join(repoRoot, '.cache', 'helm-home', 'cache'),
    HELM_CONFIG_HOME: join(repoRoot, '.cache', 'helm-home', 'config'),
    HELM_DATA_HOME: join(repoRoot, '.cache', 'helm-home', 'data'),
    ...extra,
  }
}

/** Runs helm with its HOME and XDG dirs under .cache/helm-home, so it never touches ~/.config. */
export function helm(args: readonly string[], env: NodeJS.ProcessEnv = {}, input?: string): HelmResult {
  const r = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    input,
    maxBuffer: 64 * 1024 * 1024,
    env: helmEnv(env),
  })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

export interface RenderOptions {
  release?: string
  namespace?: string
  valuesFiles?: string[]
  set?: string[]
  /** Include the chart's crds/ in the output (helm template --include-crds). */
  includeCrds?: boolean
}

export function templateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', o.release ?? 'sbc', chartDir, '--namespace', o.namespace ?? 'kube-sbc']
  for (const f of o.valuesFiles ?? []) args.push('--values', f)
  for (const s of o.set ?? []) args.push('--set', s)
  if (o.includeCrds) args.push('--include-crds')
  return args
}

/** `helm template` output as text; throws with helm's message when rendering fails. */
export function renderText(o: RenderOptions = {}): string {
  const r = helm(templateArgs(o))
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}):\n${r.stderr}`)
  return r.stdout
}

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`)
    const v = doc.toJS() as K8sObject | null
    if (v) out.push(v)
  }
  return out
}

export function render(o: RenderOptions = {}): K8sObject[] {
  return parseManifests(renderText(o))
}

export function find(objs: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const hit = objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (!hit)
    throw new Error(
      `no ${kind}${name ? ` ${name}` : ''} in ${objs.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
    )
  return hit
}

/** The pod spec of a workload or Pod. */
// biome-ignore lint/suspicious/noExplicitAny: see K8sObject.
export function podSpec(o: K8sObject): any {
  return o.kind === 'Pod' ? o.spec : o.spec?.template?.spec
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version
}

/** Runs a command without blocking the event loop (the control plane's output pipes keep draining). */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.once('error', reject)
    child.once('close', (status) => resolve({ status, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}

/** helm, asynchronously, with the same isolated HOME directories as {@link helm}. */
export function helmAsync(args: readonly string[], input?: string): Promise<HelmResult> {
  return run(helmBinary(), args, { input, env: helmEnv() })
}
