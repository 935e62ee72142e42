import { isIP } from 'node:net'
import { Kind, type SchemaOptions, type TSchema, type TUnsafe, Type, TypeRegistry } from '@sinclair/typebox'

/**
 * A CEL rule (`x-kubernetes-validations`) paired with its JavaScript twin. The API server evaluates
 * `rule`; `check` lets the compiler and `kube-sbc validate` enforce the very same invariant without
 * a cluster. The twin lives on a symbol key, so it never leaks into the generated CRD YAML.
 */
export interface CelRule {
  /** The CEL expression, evaluated with `self` bound to the node carrying the rule. */
  readonly rule: string
  /** The message the API server and our validator report when the rule fails. */
  readonly message: string
  /** Optional JSONPath-like field, relative to the node, that the failure is about. */
  readonly fieldPath?: string
  /** The JavaScript twin of `rule`: returns true when `self` satisfies it. */
  readonly check: (self: never) => boolean
}

/** The symbol under which a schema node keeps the JavaScript twins of its CEL rules. */
export const CelChecks: unique symbol = Symbol.for('kube-sbc/cel-checks')

/** A schema node that may carry CEL rules. */
export type WithCel = TSchema & { [CelChecks]?: readonly CelRule[] }

/**
 * Attaches CEL rules to a schema node, both as `x-kubernetes-validations` (for the CRD) and as
 * JavaScript twins (for offline validation).
 */
export function withCel<T extends TSchema>(schema: T, rules: readonly CelRule[]): T {
  const node = schema as T & { [CelChecks]?: readonly CelRule[]; 'x-kubernetes-validations'?: unknown }
  node[CelChecks] = [...(node[CelChecks] ?? []), ...rules]
  node['x-kubernetes-validations'] = node[CelChecks].map((r) => ({
    rule: r.rule,
    message: r.message,
    ...(r.fieldPath === undefined ? {} : { fieldPath: r.fieldPath }),
  }))
  return schema
}

/** Helper to type a CEL twin against the node's static type. */
export function cel<S>(
  rule: string,
  message: string,
  check: (self: S) => boolean,
  fieldPath?: string,
): CelRule {
  return {
    rule,
    message,
    check: check as (self: never) => boolean,
    ...(fieldPath === undefined ? {} : { fieldPath }),
  }
}

TypeRegistry.Set<{ enum: readonly string[] }>(
  'StringEnum',
  (schema, value) => typeof value === 'string' && schema.enum.includes(value),
)

TypeRegistry.Set<{ pattern?: string }>(
  'IntOrString',
  (schema, value) =>
    (typeof value === 'number' && Number.isInteger(value)) ||
    (typeof value === 'string' && (schema.pattern === undefined || new RegExp(schema.pattern).test(value))),
)

/**
 * A string restricted to a fixed set of values, rendered as `type: string` + `enum` — the
 * structural-schema form of an enum (a union of literals would become a non-structural `anyOf`).
 */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: SchemaOptions = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, [Kind]: 'StringEnum', type: 'string', enum: [...values] })
}

/** An IPv4 or IPv6 address (no prefix), checked with CEL `isIP` on the server and `net.isIP` here. */
export function IPAddress(description: string) {
  return withCel(Type.String({ minLength: 2, maxLength: 45, description }), [
    cel<string>('isIP(self)', 'must be an IPv4 or IPv6 address', (s) => isIP(s) !== 0),
  ])
}

/** An address in CIDR notation (`10.0.40.0/24`, `2001:db8::/32`). */
export function Cidr(description: string) {
  return withCel(Type.String({ minLength: 4, maxLength: 49, description }), [
    cel<string>('isCIDR(self)', 'must be an IP prefix in CIDR notation, e.g. 10.0.40.0/24', isCidr),
  ])
}

/** True when `s` is an IP prefix in CIDR notation with a prefix length valid for its family. */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/')
  if (slash < 0) return false
  const family = isIP(s.slice(0, slash))
  const bitsText = s.slice(slash + 1)
  if (family === 0 || !/^\d{1,3}$/.test(bitsText)) return false
  return Number(bitsText) <= (family === 4 ? 32 : 128)
}

/** RFC 1123 DNS name pattern (lower-case labels, dots), as Kubernetes uses for hostnames. */
export const DNS_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'

/** A fully qualified domain name. */
export function Hostname(description: string) {
  return Type.String({ minLength: 1, maxLength: 253, pattern: DNS_NAME_PATTERN, description })
}

/** An IP address or a DNS name. */
export function Host(description: string) {
  return withCel(Type.String({ minLength: 1, maxLength: 253, description }), [
    cel<string>(
      `isIP(self) || self.matches('${DNS_NAME_PATTERN.replaceAll('\\', '\\\\')}')`,
      'must be an IP address or a lower-case DNS name',
      (s) => isIP(s) !== 0 || new RegExp(DNS_NAME_PATTERN).test(s),
    ),
  ])
}

/** The object name another object in the same namespace refers to. */
export function LocalObjectReference(description: string) {
  return Type.Object(
    {
      name: Type.String({
        minLength: 1,
        maxLength: 253,
        pattern: DNS_NAME_PATTERN,
        description: 'Name of the referenced object, in the same namespace as the referring object.',
      }),
    },
    { additionalProperties: false, description },
  )
}

/** A UDP/TCP port number. */
export function Port(description: string, options: { minimum?: number } = {}) {
  return Type.Integer({ minimum: options.minimum ?? 1, maximum: 65535, description })
}
