import { strict as assert } from 'node:assert'
import { Redis } from 'ioredis'
import { mediaConfig, portBase } from '../../e2e/media/helpers.ts'
import { startLoopbackMediaPod } from '../../e2e/media/start-loopback-media-pod.ts'
import { nullLogger } from '../../lib/observability/logger.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import type { MediaPod } from './media-pod.ts'

/**
 * Deregistration wins over a heartbeat already in flight when the drain starts, on a real
 * redis-server. The heartbeat's write is the same script call every time, but it is not always one
 * command: a Redis that restarted or failed over has no scripts loaded, and the write's EVALSHA is
 * answered NOSCRIPT and sent again as EVAL, after a drain's delete that Redis already knew.
 */

const base = portBase(20)
const config = mediaConfig([{ name: 'lan', min: base, max: base + 19, maxSessions: 10 }])

describe('media pod drain: the registry entry goes and stays gone', function () {
  this.timeout(30_000)
  let redis: TestRedis
  let store: RedisStore
  let admin: Redis
  let pod: MediaPod | undefined

  before(async () => {
    redis = await startRedis()
    store = new RedisStore({ url: redis.url, logger: nullLogger })
    await store.connected(5_000)
    admin = new Redis(redis.url)
  })
  after(async () => {
    await pod?.close()
    admin?.disconnect()
    await store?.close()
    await redis?.close()
  })

  it('a heartbeat whose write is in flight when SIGTERM drains does not register the pod again', async () => {
    pod = await startLoopbackMediaPod({
      config,
      store,
      podId: 'media-drain-test',
      workers: 0,
    })
    assert.deepEqual(
      (await store.listMediaPods()).map((p) => p.id),
      ['media-drain-test'],
    )
    // As after a failover: no script loaded, then another pod's drain loads the delete.
    await admin.script('FLUSH')
    await store.unregisterMediaPod('another-pod')
    // A heartbeat write (applyConfig writes the entry at once, as the heartbeat timer does) and the
    // drain, in the same turn.
    pod.applyConfig({ ...config, generation: 2 })
    await pod.drain(0)
    // The write's EVAL, if it was sent again, has had its reply by now: ping on the same connection.
    await store.bounded('ping', store.client.ping())
    assert.deepEqual(await store.listMediaPods(), [], 'the draining pod is not in the registry')
  })
})
