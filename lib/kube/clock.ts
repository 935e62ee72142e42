/**
 * Time as the controller runtime sees it. Injected so unit tests drive backoff, requeue timers and
 * lease expiry deterministically instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Runs `fn` after `ms`; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void
}

/** The wall clock, with `unref`'d timers so a pending requeue never keeps a process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms))
    t.unref()
    return () => clearTimeout(t)
  },
}
