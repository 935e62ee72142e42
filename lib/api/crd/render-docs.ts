import { API_VERSION, CATEGORY, type KindInfo } from '../v1alpha1/group.ts'
import { type JsonSchema, toStructural } from './to-structural.ts'

/** One row of the field reference. */
interface Row {
  readonly path: string
  readonly type: string
  readonly required: boolean
  readonly description: string
}

function typeOf(node: JsonSchema): string {
  if (node['x-kubernetes-int-or-string'] === true) return 'int-or-string'
  if (node.type === 'array') return `[]${typeOf((node.items ?? {}) as JsonSchema)}`
  if (node.type === 'object' && node.additionalProperties !== undefined) {
    return `map[string]${typeOf(node.additionalProperties as JsonSchema)}`
  }
  return String(node.type ?? 'any')
}

function details(node: JsonSchema): string {
  const parts: string[] = []
  if (Array.isArray(node.enum)) parts.push(`One of: ${node.enum.map((v) => `\`${v}\``).join(', ')}.`)
  if (node.default !== undefined) parts.push(`Default: \`${JSON.stringify(node.default)}\`.`)
  const range: string[] = []
  if (node.minimum !== undefined) range.push(`${node.exclusiveMinimum === true ? '>' : '≥'} ${node.minimum}`)
  if (node.maximum !== undefined) range.push(`≤ ${node.maximum}`)
  if (range.length > 0) parts.push(`Range: ${range.join(', ')}.`)
  const rules = node['x-kubernetes-validations']
  if (Array.isArray(rules)) for (const r of rules) parts.push(`Rule: ${(r as { message: string }).message}.`)
  return parts.join(' ')
}

function rows(node: JsonSchema, path: string, required: boolean, out: Row[]): void {
  const extra = details(node)
  const description = `${String(node.description ?? '')}${extra === '' ? '' : ` ${extra}`}`
  out.push({ path, type: typeOf(node), required, description })
  const req = new Set((node.required as string[] | undefined) ?? [])
  for (const [k, v] of Object.entries((node.properties ?? {}) as JsonSchema)) {
    rows(v as JsonSchema, `${path}.${k}`, req.has(k), out)
  }
  const items = node.items as JsonSchema | undefined
  if (node.type === 'array' && items?.type === 'object') {
    const itemReq = new Set((items.required as string[] | undefined) ?? [])
    for (const [k, v] of Object.entries((items.properties ?? {}) as JsonSchema)) {
      rows(v as JsonSchema, `${path}[].${k}`, itemReq.has(k), out)
    }
  }
}

const escapeCell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ')

/** Renders the field reference of every kind as Markdown (`docs/crds.md`). */
export function renderDocs(kinds: readonly KindInfo[], header: string): string {
  const lines: string[] = [header, '', '# kube-sbc custom resources', '']
  lines.push(
    `Group \`${API_VERSION}\`, all namespaced, all in category \`${CATEGORY}\` (\`kubectl get ${CATEGORY}\` lists them).`,
    'Every field below is also available through `kubectl explain <kind>.spec`. Rules are CEL',
    '`x-kubernetes-validations` the API server enforces; cross-object rules are reported as conditions',
    '(see docs/config-model.md).',
    '',
  )
  for (const k of kinds)
    lines.push(`- [${k.kind}](#${k.kind.toLowerCase()}) (\`${k.plural}\`, short: ${k.shortNames.join(', ')})`)
  for (const k of kinds) {
    lines.push(
      '',
      `## ${k.kind}`,
      '',
      k.description,
      '',
      '| Field | Type | Required | Description |',
      '| --- | --- | --- | --- |',
    )
    const out: Row[] = []
    rows(toStructural(k.spec), 'spec', true, out)
    rows(toStructural(k.status), 'status', false, out)
    for (const r of out) {
      lines.push(
        `| \`${r.path}\` | ${escapeCell(r.type)} | ${r.required ? 'yes' : ''} | ${escapeCell(r.description)} |`,
      )
    }
  }
  lines.push('')
  return lines.join('\n')
}
