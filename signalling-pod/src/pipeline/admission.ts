import type { GroupConfig } from '../../../lib/config/model.ts'
import { withDeadline } from '../../../lib/state/deadline.ts'
import type { DialogStore } from '../../../lib/state/dialog-store.ts'
import type { CompiledPipeline } from './compiled.ts'

/** Outcome of {@link admit}. */
export type AdmissionResult =
  | {
      ok: true
      /**
       * A `maxConcurrentCalls` slot was taken for the call: release it when the call ends. False for a
       * group without that limit (nothing to release; a rate token is never given back).
       */
      held: boolean
    }
  | {
      ok: false
      code: 503
      retryAfterSeconds: number
      reason: string
      /** Why, for metrics: the concurrent-call limit, the call-rate limit, or the store failing. */
      cause: 'max-concurrent-calls' | 'call-rate' | 'store-unavailable'
    }

/** Options of {@link admit}. */
export interface AdmitOptions {
  /** How long the slot is held unless re-acquired (the B2BUA passes the call's TTL). Default 1 h. */
  holdMs?: number
  /** Give up on the store after this long and refuse (Deliver 5: 503 within 100 ms). Default 80 ms. */
  timeoutMs?: number
  /** Retry-After when the group is full. Default 30 s. */
  fullRetryAfterSeconds?: number
  /** Retry-After when the store is unavailable. Default 5 s. */
  unavailableRetryAfterSeconds?: number
}

const DEFAULT_HOLD_MS = 3_600_000

/**
 * Step 4, for a new call routed out of (or into) `group`: first the group's call-rate token bucket
 * (`callRateLimit`, a denied attempt consumes nothing, an admitted one a token even if the slot is
 * then refused), then a slot of `maxConcurrentCalls`, both cluster-wide through the store. Beyond
 * either, or when the store fails or is slow, 503 with Retry-After. A group without limits is
 * admitted at once, without touching the store and without a promise (the common case, on every
 * call's path). When the result says `held`, release the slot with
 * {@link releaseAdmission} when the call ends; only then (a release of a slot never taken is a
 * wasted store round trip per call and group).
 */
export function admit(
  store: DialogStore,
  p: CompiledPipeline,
  group: string,
  callId: string,
  options: AdmitOptions = {},
): AdmissionResult | Promise<AdmissionResult> {
  const g = p.group(group).config
  if (g.maxConcurrentCalls === null && g.callRateLimit === null) return { ok: true, held: false }
  return admitThroughStore(store, group, g, callId, options)
}

/** {@link admit} for a group with a call-rate or concurrent-call limit: the store decides. */
async function admitThroughStore(
  store: DialogStore,
  group: string,
  g: GroupConfig,
  callId: string,
  options: AdmitOptions,
): Promise<AdmissionResult> {
  const timeoutMs = options.timeoutMs ?? 80
  let acquiring = false
  try {
    if (g.callRateLimit !== null) {
      // withDeadline, not a bare timer: after an event-loop stall a reply already read still counts.
      const r = await withDeadline(
        store.tryRate(group, g.callRateLimit.callsPerSecond, g.callRateLimit.burst),
        timeoutMs,
        'tryRate',
      )
      if (!r.allowed) {
        return {
          ok: false,
          code: 503,
          retryAfterSeconds: Math.max(1, Math.ceil(r.retryAfterMs / 1000)),
          reason: `IP group ${group} call rate above ${g.callRateLimit.callsPerSecond}/s`,
          cause: 'call-rate',
        }
      }
    }
    if (g.maxConcurrentCalls !== null) {
      const holdMs = options.holdMs ?? DEFAULT_HOLD_MS
      acquiring = true
      const r = await withDeadline(
        store.tryAcquireCall(group, callId, g.maxConcurrentCalls, holdMs),
        timeoutMs,
        'tryAcquireCall',
      )
      if (!r.granted) {
        return {
          ok: false,
          code: 503,
          retryAfterSeconds: options.fullRetryAfterSeconds ?? 30,
          reason: `IP group ${group} at its limit of ${g.maxConcurrentCalls} concurrent calls`,
          cause: 'max-concurrent-calls',
        }
      }
      return { ok: true, held: true }
    }
    return { ok: true, held: false }
  } catch (e) {
    // The acquire may still run: a stalled Redis executes what was written to it once it resumes,
    // and the call it would hold a slot for is refused here, so nothing else would ever release it
    // (a phantom slot for `holdMs`). A release sent now on the same connection runs after it.
    if (acquiring) void releaseAdmission(store, group, callId)
    return {
      ok: false,
      code: 503,
      retryAfterSeconds: options.unavailableRetryAfterSeconds ?? 5,
      reason: `state store unavailable: ${e instanceof Error ? e.message : String(e)}`,
      cause: 'store-unavailable',
    }
  }
}

/**
 * Frees the slot of `callId` in `group`. Never throws: if the store is down the hold expires by
 * itself (docs/state.md).
 */
export async function releaseAdmission(store: DialogStore, group: string, callId: string): Promise<void> {
  try {
    await store.releaseCall(group, callId)
  } catch {
    // The hold expires on its own.
  }
}
