import { RedisStore } from '../../../lib/state/redis-store.ts'
import { startRedis, type TestRedis } from '../../../test/harness/redis.ts'
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
})
