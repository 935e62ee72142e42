import type { RedisStore } from '../../../lib/state/redis-store.ts'
import type { SharedBans } from './source-rate-limit.ts'

/**
 * Source bans in Redis, shared by every signalling pod: one string key per banned address,
 * `<prefix>:{b:<address>}`, with the ban's length as its TTL (`SET PX`), so a ban ends by itself and
 * nothing is left behind. Commands go over the store's connection under its deadline
 * (`store.bounded`, no offline queue): `remaining` is on the INVITE path of a first-seen source, so
 * with Redis down or stalled it fails within the store's budget and the pods keep their local view.
 */
export class RedisSourceBans implements SharedBans {
  readonly #store: RedisStore

  constructor(store: RedisStore) {
    this.#store = store
  }

  key(address: string): string {
    return `${this.#store.keys.prefix}:{b:${address}}`
  }

  async ban(address: string, ms: number): Promise<void> {
    await this.#store.bounded(
      'set',
      this.#store.client.set(this.key(address), '1', 'PX', Math.max(1, Math.round(ms))),
    )
  }

  async remaining(address: string): Promise<number> {
    // PTTL: -2 when the key does not exist, -1 without expiry (never written so).
    const ms = await this.#store.bounded('pttl', this.#store.client.pttl(this.key(address)))
    return Math.max(ms, 0)
  }
}
