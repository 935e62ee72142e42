import type { KubernetesObject } from '@kubernetes/client-node'
import { ANNOTATION_APPLIED_GENERATION, LABEL_ROLE, LABEL_SBC } from '../names.ts'

/** What the pods of one SBC acknowledged, from their Leases. */
export interface Acks {
  /** Lowest applied generation over the live pods of every role; undefined when no pod is live. */
  readonly min: number | undefined
  /** Lowest applied generation per role (only roles with live pods). */
  readonly byRole: Readonly<Record<string, number>>
  /** Earliest time (ms) a live Lease expires: when the answer may change without any event. */
  readonly nextExpiry: number | undefined
}

interface LeaseLike extends KubernetesObject {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string }
}

/**
 * The acknowledgement of the pods of `sbc` (docs/design/20261126.runtime-contract.md): Leases
 * labelled `sbc.kubesbc.io/sbc=<sbc>` whose holder renewed within `leaseDurationSeconds` of `now`
 * count; each reports `sbc.kubesbc.io/applied-generation`. A live Lease without a valid
 * annotation counts as generation 0 (the pod runs, but has applied nothing yet). Roles without
 * live pods are left out, so an SBC whose media DaemonSet selects no node can still be Programmed.
 */
export function acknowledged(leases: readonly KubernetesObject[], sbc: string, now: number): Acks {
  const byRole: Record<string, number> = {}
  let nextExpiry: number | undefined
  for (const lease of leases as readonly LeaseLike[]) {
    const labels = lease.metadata?.labels ?? {}
    if (labels[LABEL_SBC] !== sbc) continue
    const role = labels[LABEL_ROLE] ?? 'unknown'
    const renew = Date.parse(lease.spec?.renewTime ?? '')
    const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000
    if (!lease.spec?.holderIdentity || Number.isNaN(renew) || renew + duration <= now) continue
    nextExpiry = Math.min(nextExpiry ?? Number.POSITIVE_INFINITY, renew + duration)
    const raw = lease.metadata?.annotations?.[ANNOTATION_APPLIED_GENERATION] ?? ''
    const gen = /^\d+$/.test(raw) ? Number(raw) : 0
    byRole[role] = Math.min(byRole[role] ?? Number.POSITIVE_INFINITY, gen)
  }
  const values = Object.values(byRole)
  return { min: values.length === 0 ? undefined : Math.min(...values), byRole, nextExpiry }
}
