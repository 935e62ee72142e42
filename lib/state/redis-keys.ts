/**
 * The Redis key schema (docs/state.md). Every name puts the part that must share a slot inside a
 * `{hash tag}`, so the keys one script touches land in one Redis Cluster slot.
 */
export class RedisKeys {
  readonly prefix: string

  constructor(prefix = 'sbc') {
    this.prefix = prefix
  }

  /** Hash `{v, s}`: version and JSON state of call `id`. */
  call(id: string): string {
    return `${this.prefix}:{c:${id}}`
  }

  /**
   * String → call id. Leg index by Call-ID, role of the tag (`l` ours, `r` the peer's) and tag. The
   * Call-ID is the hash tag, so both candidates of one lookup are in one slot (one MGET). A Call-ID
   * containing `}` only shortens the tag, identically for every key of that Call-ID.
   */
  leg(callId: string, role: 'l' | 'r', tag: string): string {
    return `${this.prefix}:x:{${callId}}:${role}:${tag}`
  }

  /**
   * String `<CSeq number> <branch>` → a CANCEL of the INVITE that will create leg A (Call-ID, the
   * caller's tag), recorded before the call was stored. Same hash tag as leg A's index, which
   * `createCall` and `cancelUnstored` touch in the same script.
   */
  cancel(callId: string, tag: string): string {
    return `${this.prefix}:x:{${callId}}:k:${tag}`
  }

  /** Sorted set call id → hold expiry (ms): active calls of an IP group. */
  holds(group: string): string {
    return `${this.prefix}:{g:${group}}:calls`
  }

  /** Hash `{t, at}`: token bucket of an IP group's call rate. */
  rate(group: string): string {
    return `${this.prefix}:{g:${group}}:rate`
  }

  /** Sorted set pod id → expiry, and hash pod id → JSON: the media-pod registry. */
  mediaPods(): [expiry: string, data: string] {
    return [`${this.prefix}:{m}:pods:exp`, `${this.prefix}:{m}:pods`]
  }

  /** String owner with PX: a lease. */
  lease(name: string): string {
    return `${this.prefix}:{l:${name}}`
  }

  /** Sorted set address → expiry, and hash address → `1`/`0`: proxy health. */
  proxies(): [expiry: string, data: string] {
    return [`${this.prefix}:{h}:proxies:exp`, `${this.prefix}:{h}:proxies`]
  }
}
