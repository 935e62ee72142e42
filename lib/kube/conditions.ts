/** A status condition as stored in the API (metav1.Condition), times as RFC 3339 strings. */
export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  /** CamelCase, machine-readable (constants live in lib/api/v1alpha1/conditions.ts). */
  reason: string
  message: string
  observedGeneration?: number
  lastTransitionTime: string
}

/** What a reconciler decides; `setCondition` fills in `lastTransitionTime`. */
export type DesiredCondition = Omit<Condition, 'lastTransitionTime'>

/**
 * Returns a new condition list with `desired` set. `lastTransitionTime` moves to `now` only when the
 * condition is new or its `status` flips (as cert-manager's SetCertificateCondition does), so a
 * reconcile that merely re-confirms a condition, or changes its reason or message, does not make
 * the status look like it changed. Order is kept; a new type is appended. The input is not mutated.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  desired: DesiredCondition,
  now: Date = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])]
  const index = list.findIndex((c) => c.type === desired.type)
  const existing = index >= 0 ? list[index] : undefined
  const lastTransitionTime =
    existing && existing.status === desired.status ? existing.lastTransitionTime : rfc3339Seconds(now)
  const next: Condition = { ...desired, lastTransitionTime }
  if (next.observedGeneration === undefined) delete next.observedGeneration
  if (index >= 0) list[index] = next
  else list.push(next)
  return list
}

/** Sets several conditions in order; see {@link setCondition}. */
export function setConditions(
  conditions: readonly Condition[] | undefined,
  desired: readonly DesiredCondition[],
  now: Date = new Date(),
): Condition[] {
  return desired.reduce<Condition[]>((list, d) => setCondition(list, d, now), [...(conditions ?? [])])
}

/** The condition of `type`, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type)
}

/** True when the condition of `type` is present with status `True`. */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True'
}

/**
 * Structural equality of JSON values: what the API server would store. Object key order does not
 * matter, array order does, and a property set to `undefined` equals an absent one (JSON drops it).
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]))
  }
  const ra = a as Record<string, unknown>
  const rb = b as Record<string, unknown>
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)])
  for (const k of keys) if (!jsonEqual(ra[k], rb[k])) return false
  return true
}

/**
 * True when `desired` differs from `current` and a status write is needed. Reconcilers compute the
 * whole status once, then write it only if this says so, so an idle cluster sees no writes (and no
 * watch events that would wake other controllers).
 */
export function statusDiffers(current: unknown, desired: unknown): boolean {
  return !jsonEqual(current ?? {}, desired ?? {})
}

/** metav1.Time is serialised with second precision; matching it keeps round trips equal. */
function rfc3339Seconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`
}
