import type { DialogState } from '../sip/dialog/dialog-state.ts'

/**
 * How long a call's keys live after each write. Every write re-derives the TTL from the state, so a
 * call whose pod vanished disappears by itself and nothing leaks (issue 4, Deliver 3).
 */
export interface TtlPolicy {
  /**
   * Early calls (INVITE sent, no final answer). Default 200 s: a little over Timer C (> 3 min,
   * RFC 3261 §16.6 step 11). A callee may ring longer: the process forwarding the INVITE writes the
   * call again at half this TTL until the final response, so only a dead owner's calls expire.
   */
  earlyMs: number
  /**
   * Confirmed calls without a session timer: the maximum call duration. Default 4 h. A call that
   * runs longer must be written again (each in-dialog `updateCall` restarts it) or refreshed
   * (`DialogStore.refreshCall`); the B2BUA has no refresh timer.
   */
  maxCallMs: number
  /**
   * Terminated calls linger this long so retransmitted BYE/200 still find the call. Default 32 s
   * = 64·T1, the lifetime of a non-INVITE transaction (RFC 3261 §17.1.2.2).
   */
  terminatedMs: number
}

/** The defaults documented on {@link TtlPolicy}. */
export const defaultTtlPolicy: TtlPolicy = {
  earlyMs: 200_000,
  maxCallMs: 4 * 3600_000,
  terminatedMs: 32_000,
}

/**
 * TTL of a call's keys, derived from its session. A confirmed call with a negotiated Session-Expires
 * lives for the session interval plus 32 s of grace (RFC 4028 §10: the session ends at expiry unless
 * refreshed; the grace covers the refresh transaction), capped at `maxCallMs`.
 */
export function callTtlMs(state: DialogState, policy: TtlPolicy): number {
  switch (state.state) {
    case 'early':
      return policy.earlyMs
    case 'terminated':
      return policy.terminatedMs
    case 'confirmed':
      return state.sessionExpiresS !== undefined
        ? Math.min(state.sessionExpiresS * 1000 + 32_000, policy.maxCallMs)
        : policy.maxCallMs
  }
}
