import { Kind, type TSchema } from '@sinclair/typebox'
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { CelChecks, type CelRule } from '../schema-helpers.ts'
import { type KindName, kindInfo } from './group.ts'

/** One problem found in an object, with the field it is about (`spec.listeners[1].port`). */
export interface SpecIssue {
  readonly field: string
  readonly message: string
}

/** Result of validating a spec: the spec with schema defaults applied, and its issues. */
export interface SpecValidation<T = unknown> {
  readonly value: T
  readonly issues: readonly SpecIssue[]
}

const checks = new Map<TSchema, TypeCheck<TSchema>>()

function compiled(schema: TSchema): TypeCheck<TSchema> {
  let c = checks.get(schema)
  if (c === undefined) {
    c = TypeCompiler.Compile(schema)
    checks.set(schema, c)
  }
  return c
}

/** Turns a JSON pointer (`/listeners/1/port`) into a field path (`spec.listeners[1].port`). */
export function pointerToField(root: string, pointer: string): string {
  let out = root
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`
  }
  return out
}

function describeError(schema: TSchema & { enum?: unknown[] }, message: string, value: unknown): string {
  if (schema[Kind] === 'StringEnum' && Array.isArray(schema.enum)) {
    return `must be one of ${schema.enum.join(', ')} (got ${JSON.stringify(value)})`
  }
  if (schema[Kind] === 'IntOrString') return 'must be an integer or a quantity such as 500m or 1Gi'
  return message.charAt(0).toLowerCase() + message.slice(1)
}

/**
 * Validates `value` against `schema` the way the API server would: the structural schema first,
 * then — only where the structure is right — every CEL rule through its JavaScript twin.
 * Defaults are applied to a copy first, as the API server defaults before it validates.
 */
export function validateAgainst<T>(schema: TSchema, value: unknown, root: string): SpecValidation<T> {
  const copy = Value.Default(schema, Value.Clone(value))
  const issues: SpecIssue[] = []
  const seen = new Set<string>()
  for (const e of compiled(schema).Errors(copy)) {
    // Unions and nested objects can report one field several times; one line per field is enough.
    const field = pointerToField(root, e.path)
    if (seen.has(field)) continue
    seen.add(field)
    issues.push({ field, message: describeError(e.schema as TSchema, e.message, e.value) })
  }
  // The API server evaluates CEL rules next to the structural checks, so both are reported.
  walkCel(schema, copy, root, issues)
  return { value: copy as T, issues }
}

/** A twin that throws met a value of the wrong shape, which the structural check already reported. */
function safeCheck(rule: CelRule, value: unknown): boolean {
  try {
    return rule.check(value as never)
  } catch {
    return true
  }
}

function walkCel(schema: TSchema, value: unknown, field: string, issues: SpecIssue[]): void {
  const rules = (schema as { [CelChecks]?: readonly CelRule[] })[CelChecks] ?? []
  for (const r of rules) {
    if (!safeCheck(r, value)) {
      issues.push({ field: r.fieldPath === undefined ? field : `${field}${r.fieldPath}`, message: r.message })
    }
  }
  if (schema.type === 'object' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const props = (schema.properties ?? {}) as Record<string, TSchema>
    const record = value as Record<string, unknown>
    for (const [key, sub] of Object.entries(props)) {
      if (record[key] !== undefined) walkCel(sub, record[key], field === '' ? key : `${field}.${key}`, issues)
    }
  } else if (schema.type === 'array' && Array.isArray(value) && schema.items !== undefined) {
    for (const [i, item] of value.entries()) walkCel(schema.items as TSchema, item, `${field}[${i}]`, issues)
  }
}

/** Validates the spec of an object of `kind` (a kind of this group and version). */
export function validateSpec<T = unknown>(kind: KindName, spec: unknown): SpecValidation<T> {
  const info = kindInfo(kind)
  if (info === undefined)
    return { value: spec as T, issues: [{ field: 'kind', message: `unknown kind ${kind}` }] }
  if (spec === undefined || spec === null)
    return { value: spec as T, issues: [{ field: 'spec', message: 'is required' }] }
  return validateAgainst<T>(info.spec, spec, 'spec')
}
