import { parseArgs } from 'node:util'
import { API_VERSION, GROUP, Kinds, kindInfo } from '../../lib/api/v1alpha1/group.ts'
import type { SessionBorderControllerSpec } from '../../lib/api/v1alpha1/session-border-controller.ts'
import { compile, isSbcObject, isSecret } from '../../lib/config/compile/compile.ts'
import { type KubeObject, nameOf, namespaceOf } from '../../lib/config/compile/objects.ts'
import type { Finding } from '../../lib/config/compile/verdict.ts'
import type { Command, CommandIO } from '../command.ts'
import { UsageError } from '../errors.ts'
import { type LoadedObject, listYamlFiles, loadObjects } from '../load-objects.ts'

/** One reported problem, grouped under an object (or a file, for YAML errors). */
export interface Problem {
  readonly severity: 'error' | 'warning'
  readonly reason: string
  readonly message: string
}

/** The problems of one object or file. */
export interface ProblemGroup {
  /** `Kind namespace/name`, or the file for problems not tied to an object. */
  readonly subject: string
  /** `file:line` where the object starts. */
  readonly location: string
  readonly problems: Problem[]
}

/** What `validate` found. */
export interface ValidationReport {
  readonly objects: number
  readonly errors: number
  readonly warnings: number
  readonly groups: ProblemGroup[]
}

const subjectOf = (o: KubeObject) => `${String(o.kind)} ${namespaceOf(o)}/${nameOf(o)}`

/**
 * Validates CR files the way the operator would judge them: YAML syntax, known kinds and versions,
 * duplicates, then the compiler's verdicts (per SessionBorderController, per namespace).
 */
export function validatePaths(paths: readonly string[]): ValidationReport {
  const { objects, problems: yamlProblems } = loadObjects(listYamlFiles(paths))
  const groups = new Map<string, ProblemGroup>()
  const add = (subject: string, location: string, p: Problem) => {
    let g = groups.get(subject)
    if (g === undefined) {
      g = { subject, location, problems: [] }
      groups.set(subject, g)
    }
    if (!g.problems.some((q) => q.message === p.message)) g.problems.push(p)
  }
  for (const p of yamlProblems) {
    add(`${p.file}:${p.line}:${p.column} YAML syntax error`, `${p.file}:${p.line}:${p.column}`, {
      severity: 'error',
      reason: 'YAMLSyntax',
      message: p.message,
    })
  }

  const accepted: LoadedObject[] = []
  const seen = new Map<string, LoadedObject>()
  for (const lo of objects) {
    const o = lo.object
    const where = `${lo.file}:${lo.line}`
    const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : ''
    const kind = typeof o.kind === 'string' ? o.kind : ''
    if (apiVersion === '' || kind === '') {
      add(where, where, {
        severity: 'error',
        reason: 'NotAnObject',
        message: 'document lacks apiVersion or kind',
      })
      continue
    }
    if (nameOf(o) === '') {
      add(where, where, { severity: 'error', reason: 'Invalid', message: `${kind} lacks metadata.name` })
      continue
    }
    if (apiVersion.startsWith(`${GROUP}/`) && apiVersion !== API_VERSION) {
      add(subjectOf(o), where, {
        severity: 'error',
        reason: 'UnknownVersion',
        message: `unknown apiVersion ${apiVersion} (this kube-sbc serves ${API_VERSION})`,
      })
      continue
    }
    if (apiVersion === API_VERSION && kindInfo(kind) === undefined) {
      add(subjectOf(o), where, {
        severity: 'error',
        reason: 'UnknownKind',
        message: `unknown kind ${kind} in ${API_VERSION}`,
      })
      continue
    }
    if (!isSbcObject(o) && !isSecret(o)) {
      add(subjectOf(o), where, {
        severity: 'warning',
        reason: 'Ignored',
        message: `${apiVersion} ${kind} is not a kube-sbc object; ignored`,
      })
      continue
    }
    const key = `${kind}/${namespaceOf(o)}/${nameOf(o)}`
    const first = seen.get(key)
    if (first !== undefined) {
      add(subjectOf(o), where, {
        severity: 'error',
        reason: 'Duplicate',
        message: `duplicate of the object at ${first.file}:${first.line}`,
      })
      continue
    }
    seen.set(key, lo)
    accepted.push(lo)
  }

  const locate = new Map(accepted.map((lo) => [subjectOf(lo.object), `${lo.file}:${lo.line}`]))
  const all = accepted.map((lo) => lo.object)
  const compiled = new Set<string>()
  const report = (findings: readonly Finding[], subject: string) => {
    for (const f of findings)
      add(subject, locate.get(subject) ?? '', {
        severity: f.severity,
        reason: `${f.type}/${f.reason}`,
        message: f.message,
      })
  }
  const namespaces = [...new Set(all.filter(isSbcObject).map(namespaceOf))].sort()
  for (const ns of namespaces) {
    const controllers = all.filter((o) => o.kind === Kinds.SessionBorderController && namespaceOf(o) === ns)
    const scopes =
      controllers.length === 0 ? [undefined] : controllers.map((c) => ({ namespace: ns, name: nameOf(c) }))
    for (const scope of scopes) {
      const { verdicts } = compile(
        all,
        scope === undefined ? { generation: 0, namespace: ns } : { generation: 0, controller: scope },
      )
      for (const v of verdicts) {
        const subject = `${v.kind} ${v.namespace}/${v.name}`
        compiled.add(subject)
        report(v.findings, subject)
      }
    }
    if (controllers.length > 0) {
      for (const o of all.filter(
        (x) => isSbcObject(x) && namespaceOf(x) === ns && !compiled.has(subjectOf(x)),
      )) {
        add(subjectOf(o), locate.get(subjectOf(o)) ?? '', {
          severity: 'warning',
          reason: 'NotSelected',
          message: `no SessionBorderController in namespace ${ns} selects this object (${controllers
            .map((c) =>
              JSON.stringify(
                (c.spec as SessionBorderControllerSpec | undefined)?.selector?.matchLabels ?? {},
              ),
            )
            .join(', ')})`,
        })
      }
    }
  }
  const list = [...groups.values()].sort((a, b) =>
    a.location < b.location ? -1 : a.location > b.location ? 1 : 0,
  )
  const count = (s: Problem['severity']) =>
    list.reduce((n, g) => n + g.problems.filter((p) => p.severity === s).length, 0)
  return { objects: objects.length, errors: count('error'), warnings: count('warning'), groups: list }
}

/** Renders a report for humans. */
export function formatReport(r: ValidationReport): string {
  const lines: string[] = []
  for (const g of r.groups) {
    lines.push(g.subject.startsWith(g.location) ? g.subject : `${g.location} ${g.subject}`)
    for (const p of g.problems) lines.push(`  ${p.severity.padEnd(7)} ${p.reason}: ${p.message}`)
  }
  const verdict = r.errors === 0 ? 'valid' : 'invalid'
  lines.push(`${r.objects} objects, ${r.errors} errors, ${r.warnings} warnings: ${verdict}`)
  return `${lines.join('\n')}\n`
}

const USAGE = `usage: kube-sbc validate -f PATH... [--output text|json]

Compiles the custom resources in PATH (files, or folders searched recursively for *.yaml and *.yml;
multi-document files allowed) and prints every problem per object. Exit 1 on any error, 0 otherwise
(warnings do not fail).

  -f, --filename PATH   a file or folder (repeatable)
  -o, --output FORMAT   text (default) or json
  -h, --help            show this help`

/** `kube-sbc validate`. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'compile CRs from files and print problems per object',
  usage: USAGE,
  async run(args: readonly string[], io: CommandIO): Promise<number> {
    let parsed: ReturnType<typeof parse>
    try {
      parsed = parse(args)
    } catch (e) {
      throw new UsageError(
        (e instanceof Error ? e.message : String(e)).split('. To specify')[0] ?? 'bad arguments',
      )
    }
    const v = parsed.values
    if (v.help === true) {
      io.stdout(`${USAGE}\n`)
      return 0
    }
    if (parsed.positionals.length > 0)
      throw new UsageError(`unexpected argument ${parsed.positionals[0]} (use -f PATH)`)
    const paths = v.filename ?? []
    if (paths.length === 0) throw new UsageError('validate needs at least one -f PATH')
    const output = v.output ?? 'text'
    if (output !== 'text' && output !== 'json')
      throw new UsageError(`--output must be text or json, not ${output}`)
    const report = validatePaths(paths)
    io.stdout(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
    return report.errors > 0 ? 1 : 0
  },
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  })
}
