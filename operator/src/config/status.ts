import type { KubernetesObject } from '@kubernetes/client-node'
import { ConditionReason, ConditionType } from '../../../lib/api/v1alpha1/conditions.ts'
import { Kinds } from '../../../lib/api/v1alpha1/group.ts'
import type { Verdict } from '../../../lib/config/compile/verdict.ts'
import {
  type Condition,
  type DesiredCondition,
  jsonEqual,
  setConditions,
} from '../../../lib/kube/conditions.ts'
import { REDIS_CONDITION } from '../redis-default.ts'
import type { Acks } from './acks.ts'
import type { GenerationMap } from './publish.ts'

/** The condition types the operator owns on every kube-sbc object. */
export const OWNED_CONDITIONS: readonly string[] = [
  ConditionType.Accepted,
  ConditionType.ResolvedRefs,
  ConditionType.Programmed,
  ConditionType.Ready,
  // SessionBorderController only: which Redis it uses (operator/src/redis-default.ts).
  REDIS_CONDITION,
]

/** The status fields the config controller owns (it applies exactly these through `/status`). */
export interface OwnedStatus {
  observedGeneration?: number
  conditions: Condition[]
  /** SessionBorderController only. */
  configGeneration?: number
  /** SessionBorderController only; absent until a pod acknowledged. */
  acknowledgedGeneration?: number
}

type WithStatus = KubernetesObject & { status?: Record<string, unknown> }

/** The subset of an object's current status that {@link OwnedStatus} covers, for comparison. */
export function currentOwnedStatus(obj: KubernetesObject): Record<string, unknown> {
  const s = (obj as WithStatus).status ?? {}
  const out: Record<string, unknown> = {}
  if (s.observedGeneration !== undefined) out.observedGeneration = s.observedGeneration
  out.conditions = ((s.conditions ?? []) as Condition[]).filter((c) => OWNED_CONDITIONS.includes(c.type))
  if (obj.kind === Kinds.SessionBorderController) {
    if (s.configGeneration !== undefined) out.configGeneration = s.configGeneration
    if (s.acknowledgedGeneration !== undefined) out.acknowledgedGeneration = s.acknowledgedGeneration
  }
  return out
}

/** The Programmed condition of an object from the generation map and the pods' acknowledgement. */
export function programmedCondition(verdict: Verdict, objects: GenerationMap, acks: Acks): DesiredCondition {
  const gen = verdict.generation === undefined ? {} : { observedGeneration: verdict.generation }
  const who = `${verdict.kind} ${verdict.namespace}/${verdict.name}`
  const entry = objects[`${verdict.kind}/${verdict.name}`]
  if (!verdict.included || entry === undefined || entry.generation !== verdict.generation) {
    return {
      type: ConditionType.Programmed,
      status: 'False',
      reason: ConditionReason.Pending,
      message: `${who} is not in the published config: it is not accepted or its references do not resolve.`,
      ...gen,
    }
  }
  if (acks.min === undefined) {
    return {
      type: ConditionType.Programmed,
      status: 'False',
      reason: ConditionReason.Pending,
      message: `${who} is in config generation ${entry.configGeneration}; no live signalling or media pod has acknowledged a config yet.`,
      ...gen,
    }
  }
  if (acks.min < entry.configGeneration) {
    return {
      type: ConditionType.Programmed,
      status: 'False',
      reason: ConditionReason.Pending,
      message: `${who} is in config generation ${entry.configGeneration}; the pods have acknowledged ${acks.min} so far.`,
      ...gen,
    }
  }
  return {
    type: ConditionType.Programmed,
    status: 'True',
    reason: ConditionReason.Programmed,
    message: `${who}: config generation ${entry.configGeneration} containing it is acknowledged by every live pod.`,
    ...gen,
  }
}

/** Ready: True when Accepted, ResolvedRefs and Programmed all are; otherwise names those that are not. */
export function readyCondition(
  conditions: readonly DesiredCondition[],
  observedGeneration: number | undefined,
): DesiredCondition {
  const gen = observedGeneration === undefined ? {} : { observedGeneration }
  const notTrue = conditions.filter((c) => c.status !== 'True')
  if (notTrue.length === 0) {
    return {
      type: ConditionType.Ready,
      status: 'True',
      reason: ConditionReason.Ready,
      message: 'Accepted, references resolved and programmed.',
      ...gen,
    }
  }
  return {
    type: ConditionType.Ready,
    status: 'False',
    reason: ConditionReason.NotReady,
    message: `Not ready: ${notTrue.map((c) => `${c.type} is ${c.status} (${c.reason})`).join(', ')}.`,
    ...gen,
  }
}

/**
 * The whole owned status of one object: the compiler's Accepted and ResolvedRefs, Programmed from
 * the acknowledgement, `extra` conditions the controller decided (the SBC's RedisConfigured),
 * Ready as the summary of all of them; `lastTransitionTime` kept unless a status flips.
 */
export function desiredStatus(
  obj: KubernetesObject,
  verdict: Verdict,
  objects: GenerationMap,
  acks: Acks,
  configGeneration: number,
  now: Date,
  extra: readonly DesiredCondition[] = [],
): OwnedStatus {
  const generation = obj.metadata?.generation
  const fromVerdict: DesiredCondition[] = verdict.conditions.map((c) => ({ ...c }))
  const programmed = programmedCondition(verdict, objects, acks)
  const all = [...fromVerdict, programmed, ...extra]
  const desired = [...all, readyCondition(all, generation)]
  const current = currentOwnedStatus(obj).conditions as Condition[]
  const status: OwnedStatus = { conditions: setConditions(current, desired, now) }
  if (generation !== undefined) status.observedGeneration = generation
  if (obj.kind === Kinds.SessionBorderController) {
    status.configGeneration = configGeneration
    if (acks.min !== undefined) status.acknowledgedGeneration = acks.min
  }
  return status
}

/** True when the owned status must be written. */
export function ownedStatusDiffers(obj: KubernetesObject, desired: OwnedStatus): boolean {
  return !jsonEqual(currentOwnedStatus(obj), desired)
}

/** Conditions that are False now and were not False with the same message before: worth an Event. */
export function newProblems(obj: KubernetesObject, desired: OwnedStatus): Condition[] {
  const before = currentOwnedStatus(obj).conditions as Condition[]
  return desired.conditions.filter(
    (c) =>
      (c.type === ConditionType.Accepted ||
        c.type === ConditionType.ResolvedRefs ||
        c.type === REDIS_CONDITION) &&
      c.status === 'False' &&
      !before.some((b) => b.type === c.type && b.status === 'False' && b.message === c.message),
  )
}
