import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import type { KubeObject } from './objects.ts'
import type { VerdictBuilder } from './verdict.ts'

/** An object of one kind that passed its schema, with schema defaults applied to its spec. */
export interface Candidate<S> {
  readonly object: KubeObject
  readonly name: string
  readonly spec: S
  readonly verdict: VerdictBuilder
}

/** A Secret of the input, reduced to what the compiler checks: its type and key names. */
export interface SecretInfo {
  readonly type: string
  readonly keys: ReadonlySet<string>
}

/**
 * What the per-kind compilers share: the namespace being compiled, the Secrets, and the names of the
 * objects of each kind that made it into the config (so later kinds can resolve references and
 * tell a missing object from an invalid one).
 */
export class CompileContext {
  readonly namespace: string
  readonly secrets: ReadonlyMap<string, SecretInfo>
  private readonly present = new Map<string, Set<string>>()
  private readonly included = new Map<string, Set<string>>()

  constructor(namespace: string, secrets: ReadonlyMap<string, SecretInfo>) {
    this.namespace = namespace
    this.secrets = secrets
  }

  /** Records that an object of `kind` named `name` exists among the members (valid or not). */
  markPresent(kind: string, name: string): void {
    const s = this.present.get(kind) ?? new Set<string>()
    this.present.set(kind, s)
    s.add(name)
  }

  /** Records that an object made it into the config. */
  markIncluded(kind: string, name: string): void {
    const s = this.included.get(kind) ?? new Set<string>()
    this.included.set(kind, s)
    s.add(name)
  }

  /**
   * Checks that `name` of `kind` made it into the config; otherwise records a ResolvedRefs error on
   * `verdict` saying whether the object is missing or itself not valid. Returns whether it resolved.
   */
  resolve(verdict: VerdictBuilder, kind: string, name: string, field: string): boolean {
    if (this.included.get(kind)?.has(name) === true) return true
    if (this.present.get(kind)?.has(name) === true) {
      verdict.error(
        ConditionType.ResolvedRefs,
        ConditionReason.RefNotAccepted,
        field,
        `${kind} "${name}" exists but is not valid (see its conditions)`,
      )
    } else {
      verdict.error(
        ConditionType.ResolvedRefs,
        ConditionReason.RefNotFound,
        field,
        `${kind} "${name}" not found in namespace ${this.namespace}`,
      )
    }
    return false
  }

  /** Checks that Secret `name` exists and holds `keys` (and has `type`, when given). */
  resolveSecret(
    verdict: VerdictBuilder,
    name: string,
    field: string,
    keys: readonly string[],
    type?: string,
  ): boolean {
    const s = this.secrets.get(name)
    if (s === undefined) {
      verdict.error(
        ConditionType.ResolvedRefs,
        ConditionReason.RefNotFound,
        field,
        `Secret "${name}" not found in namespace ${this.namespace}`,
      )
      return false
    }
    const missing = keys.filter((k) => !s.keys.has(k))
    if (missing.length > 0 || (type !== undefined && s.type !== type)) {
      const problems = [
        ...(missing.length > 0 ? [`lacks key${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`] : []),
        ...(type !== undefined && s.type !== type ? [`has type ${s.type}, expected ${type}`] : []),
      ]
      verdict.error(
        ConditionType.ResolvedRefs,
        ConditionReason.InvalidSecret,
        field,
        `Secret "${name}" ${problems.join(' and ')}`,
      )
      return false
    }
    return true
  }
}

/** Secret info of a v1 Secret object (keys of data and stringData). */
export function secretInfo(o: KubeObject): SecretInfo {
  const keys = new Set<string>()
  for (const m of [o.data, o.stringData]) {
    if (typeof m === 'object' && m !== null) for (const k of Object.keys(m)) keys.add(k)
  }
  return { type: typeof o.type === 'string' ? o.type : 'Opaque', keys }
}
