/**
 * Per-source rate limit of the SessionBorderController (`spec.security.rateLimit`, compiled into
 * `SbcConfig.security.rateLimit`): a token bucket per source address for out-of-dialog requests,
 * and bans shared by all pods. See docs/b2bua.md, "Multi-process".
 */

/** `SbcConfig.security.rateLimit`. */
export interface RateLimitSettings {
  /** Refill rate of each source's bucket. */
  requestsPerSecond: number
  /** Bucket capacity: requests a source may send at once after being quiet. */
  burst: number
  /** When > 0, a source over the limit is banned this long: every request from it is dropped. */
  banSeconds: number
}

/** What to do with a request: serve it, or drop it silently because of the rate or a ban. */
export type RateVerdict = 'pass' | 'limited' | 'banned'

/** Bans shared between processes (Redis), by source address. */
export interface SharedBans {
  /** Records a ban of `address` for `ms` milliseconds. */
  ban(address: string, ms: number): Promise<void>
  /** Milliseconds left of `address`'s ban, 0 when it is not banned. */
  remaining(address: string): Promise<number>
}

export interface SourceRateLimiterOptions {
  /** Clock in milliseconds (tests inject one). */
  now?: () => number
  /** Most sources remembered; the least recently seen is forgotten beyond it. Default 65,536. */
  maxSources?: number
  /** Shared bans; without them bans are local to this process (standalone mode). */
  shared?: SharedBans
  /**
   * A known source's shared ban is looked up again at most this often (default 1,000 ms): a ban
   * another pod imposes is honoured here within that time, at one Redis read per source and period.
   */
  recheckMs?: number
  /** Most shared-ban lookups in flight; a new source beyond it is not waited for. Default 256. */
  maxLookups?: number
  /**
   * How long a new source's first request waits for its shared-ban lookup (default 10 ms; a
   * reachable Redis answers in about 1 ms). Past it the request is decided with what this process
   * knows, and the lookup's answer still counts for the next requests: with Redis stalled the
   * lookup takes the store's whole deadline, and the INVITE behind it needs the store again, so
   * waiting for both would push its 503 past the 100 ms of issue 4, Deliver 5.
   */
  firstLookupWaitMs?: number
  /** A shared-ban write or lookup failed (Redis trouble): the limiter goes on with what it knows. */
  onError?: (err: unknown) => void
}

interface Source {
  tokens: number
  /** Last refill (ms). */
  at: number
  /** Banned until (ms); 0 when not banned. */
  banUntil: number
  /** Last shared-ban lookup (ms). */
  lookedUp: number
  /** The first lookup of a new source, while in flight: its other requests wait for it too. */
  first?: Promise<void> | undefined
}

const SWEEP_EVERY = 1024

/**
 * Token buckets per source address (RFC 3261 has no rate limit; this is the policy an SBC applies
 * before spending anything on a request). A source's bucket holds `burst` tokens and refills at
 * `requestsPerSecond`; each out-of-dialog request takes one, in-dialog requests take none. A request
 * finding the bucket empty is `limited`; with `banSeconds` the source is then banned (locally at
 * once, and through {@link SharedBans} for the other pods) and every request of it is `banned`
 * until the ban expires.
 *
 * Memory is bounded: sources are kept in least-recently-seen order, idle ones (bucket full again,
 * not banned) are swept every {@link SWEEP_EVERY} checks, and beyond `maxSources` the least recently
 * seen is dropped — a flood from many (spoofed) addresses costs a fixed amount of memory.
 */
export class SourceRateLimiter {
  readonly #now: () => number
  readonly #max: number
  readonly #shared: SharedBans | undefined
  readonly #recheckMs: number
  readonly #maxLookups: number
  readonly #firstWaitMs: number
  readonly #onError: (err: unknown) => void
  readonly #sources = new Map<string, Source>()
  #lookups = 0
  #checks = 0

  constructor(o: SourceRateLimiterOptions = {}) {
    this.#now = o.now ?? Date.now
    this.#max = o.maxSources ?? 65_536
    this.#shared = o.shared
    this.#recheckMs = o.recheckMs ?? 1000
    this.#maxLookups = o.maxLookups ?? 256
    this.#firstWaitMs = o.firstLookupWaitMs ?? 10
    this.#onError = o.onError ?? (() => {})
  }

  /** Sources remembered now. */
  get size(): number {
    return this.#sources.size
  }

  /**
   * The verdict for one request from `address`. Synchronous, except for a source not seen before
   * when bans are shared: its shared ban is looked up first (one Redis read), so a source banned by
   * another pod is dropped here from its first request.
   */
  check(address: string, s: RateLimitSettings, inDialog: boolean): RateVerdict | Promise<RateVerdict> {
    const now = this.#now()
    if (++this.#checks % SWEEP_EVERY === 0) this.#sweep(now, s)
    let src = this.#sources.get(address)
    const seen = src !== undefined
    if (src) {
      // Least recently seen first: re-inserting moves the source to the end.
      this.#sources.delete(address)
    } else {
      src = { tokens: s.burst, at: now, banUntil: 0, lookedUp: Number.NEGATIVE_INFINITY }
      if (this.#sources.size >= this.#max) {
        const oldest = this.#sources.keys().next().value
        if (oldest !== undefined) this.#sources.delete(oldest)
      }
    }
    this.#sources.set(address, src)
    const known = src
    if (src.first) return src.first.then(() => this.#decide(address, known, s, inDialog))
    const shared = this.#shared
    if (shared && src.banUntil <= now && now - src.lookedUp >= this.#recheckMs) {
      src.lookedUp = now
      if (this.#lookups < this.#maxLookups) {
        this.#lookups++
        const lookup = this.#lookUp(shared, address, src)
        if (!seen) {
          src.first = new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.#firstWaitMs)
            lookup.then(() => {
              clearTimeout(timer)
              resolve()
            })
          }).then(() => {
            known.first = undefined
          })
          return src.first.then(() => this.#decide(address, known, s, inDialog))
        }
        // A known source: its ban is refreshed in the background.
      }
    }
    return this.#decide(address, src, s, inDialog)
  }

  async #lookUp(shared: SharedBans, address: string, src: Source): Promise<void> {
    try {
      const ms = await shared.remaining(address)
      if (ms > 0) src.banUntil = Math.max(src.banUntil, this.#now() + ms)
    } catch (err) {
      this.#onError(err)
    } finally {
      this.#lookups--
    }
  }

  #decide(address: string, src: Source, s: RateLimitSettings, inDialog: boolean): RateVerdict {
    const now = this.#now()
    if (src.banUntil > now) return 'banned'
    if (inDialog) return 'pass'
    const rate = Math.max(s.requestsPerSecond, 0)
    src.tokens = Math.min(s.burst, src.tokens + (Math.max(0, now - src.at) / 1000) * rate)
    src.at = now
    if (src.tokens >= 1) {
      src.tokens -= 1
      return 'pass'
    }
    if (s.banSeconds > 0) {
      const ms = s.banSeconds * 1000
      src.banUntil = now + ms
      this.#shared?.ban(address, ms).catch((err: unknown) => this.#onError(err))
    }
    return 'limited'
  }

  /** Forgets the least recently seen sources that are idle: bucket full again, not banned. */
  #sweep(now: number, s: RateLimitSettings): void {
    const refillMs =
      s.requestsPerSecond > 0 ? (s.burst / s.requestsPerSecond) * 1000 : Number.POSITIVE_INFINITY
    for (const [address, src] of this.#sources) {
      if (src.banUntil > now || now - src.at < refillMs) break
      this.#sources.delete(address)
    }
  }
}
