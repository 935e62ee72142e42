import assert from 'node:assert/strict'
import { RedisStore } from '../../../lib/state/redis-store.ts'
import { startRedis, type TestRedis } from '../../../test/harness/redis.ts'
import { admit } from './admission.ts'
import { fillWebex, uclabConfig } from './fixtures.ts'
import { CompiledPipeline } from './pipeline.ts'

describe('admission step (real redis-server)', () => {
  let redis: TestRedis
  let store: RedisStore

  before(async () => {
    redis = await startRedis()
    store = new RedisStore({ url: redis.url, commandTimeoutMs: 5000 })
    await store.connected()
  })
  after(async () => {
    await store.close()
    await redis.close()
  })

  it('gives the 251st concurrent call on the 250-limit webex group a 503 with Retry-After', async () => {
    await fillWebex(store, CompiledPipeline.from(uclabConfig()))
  })

  it('admits a call whose store reply arrived while the event loop was blocked past the 80 ms timeout', async () => {
    const p = CompiledPipeline.from(uclabConfig())
    await store.client.flushall()
    // Loads the script, so the admission below is one round trip.
    await store.tryAcquireCall('webex', 'warm', 1000, 60_000)
    const pending = admit(store, p, 'webex', 'stalled', { timeoutMs: 80 })
    // Redis answers while this process is busy (GC, a burst); the timer fired before the reply
    // was read and a bare timer refused the call with 503.
    const end = performance.now() + 200
    while (performance.now() < end) {
      // busy: the event loop is blocked
    }
    assert.deepEqual(await pending, { ok: true, held: true })
  })

  it('leaves no slot behind when Redis stalls past the deadline and runs the acquire late', async () => {
    const p = CompiledPipeline.from(uclabConfig())
    await store.client.flushall()
    // Loads the scripts, so the admission below is the script call itself.
    await store.tryAcquireCall('webex', 'warm', 1000, 60_000)
    await store.releaseCall('webex', 'warm')
    process.kill(redis.pid(), 'SIGSTOP')
    let a: Awaited<ReturnType<typeof admit>>
    try {
      a = await admit(store, p, 'webex', 'stalled2', { timeoutMs: 80 })
    } finally {
      process.kill(redis.pid(), 'SIGCONT')
    }
    // The caller heard 503: the call never exists, so nothing will ever release its slot.
    assert.equal(a.ok, false)
    assert.equal(!a.ok && a.cause, 'store-unavailable')
    // Redis now runs what was written to it during the stall, in order; a round trip after it sees
    // the outcome.
    await store.client.ping()
    assert.equal(await store.activeCalls('webex'), 0)
  })
})
