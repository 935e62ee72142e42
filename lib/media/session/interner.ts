/**
 * A bounded table of shared values, so that long-lived session records point at one copy of what
 * most calls repeat (`audio`, `RTP/AVP`, the codec list `PCMU/8000, telephone-event/8000`) instead of
 * each holding the copy its SDP parse produced (24–200 B per value and party).
 *
 * @remarks
 * Bounded: once `limit` keys are held, new keys are not added and `get` returns the caller's own value
 * (what it would have kept without the table). Nothing is evicted, so a value handed out stays valid;
 * a flood of distinct values costs at most `limit` entries, never correctness. Values must be
 * immutable once shared: callers freeze them.
 */
export class Interner<T> {
  private readonly table = new Map<string, T>()
  private readonly limit: number

  constructor(limit = 256) {
    if (!(Number.isInteger(limit) && limit >= 0))
      throw new RangeError(`interner limit must be an integer >= 0, got ${limit}`)
    this.limit = limit
  }

  /** The shared value for `key`, adding `value` when the key is new and the table has room. */
  get(key: string, value: T): T {
    const held = this.table.get(key)
    if (held !== undefined) return held
    if (this.table.size < this.limit) this.table.set(key, value)
    return value
  }

  /** Keys held. */
  get size(): number {
    return this.table.size
  }
}
