import { strict as assert } from 'node:assert'
import { nullLogger } from '../../../lib/observability/logger.ts'
import type { DialogStore, MediaPodInfo } from '../../../lib/state/dialog-store.ts'
import { MemoryStore } from '../../../lib/state/memory-store.ts'
import { RedisStore } from '../../../lib/state/redis-store.ts'
import { MediaPodWatch } from './media-pod-watch.ts'

const pod = (id: string): MediaPodInfo => ({
  id,
  address: `127.0.0.1:${id.length + 22220}`,
  realms: ['lan'],
  capacity: 10,
  active: 0,
})

describe('MediaPodWatch', () => {
  it('reports each pod that left the registry once, with its last record', async () => {
    let now = 1_000_000
    const store = new MemoryStore({ now: () => now })
    const lost: MediaPodInfo[] = []
    const watch = new MediaPodWatch({ store, onLost: (p) => lost.push(p), logger: nullLogger })
    await store.registerMediaPod(pod('m1'), 3000)
    await store.registerMediaPod(pod('m2'), 3000)
    assert.deepEqual(await watch.poll(), [], 'the first poll only learns')
    await store.unregisterMediaPod('m2')
    assert.deepEqual(await watch.poll(), [pod('m2')], 'unregistered (draining)')
    now += 3001
    await store.registerMediaPod(pod('m3'), 3000)
    assert.deepEqual(await watch.poll(), [pod('m1')], 'heartbeat expired; a new pod is no loss')
    assert.deepEqual(await watch.poll(), [])
    assert.deepEqual(lost, [pod('m2'), pod('m1')])
    await watch.close()
    await store.close()
  })

  it('reports nothing while the registry cannot be read, and no loss when it is back', async () => {
    const memory = new MemoryStore()
    // A real client toward a port nothing listens on: every command is refused at once.
    const down = new RedisStore({ url: 'redis://127.0.0.1:1', logger: nullLogger })
    let current: DialogStore = memory
    const lost: MediaPodInfo[] = []
    const watch = new MediaPodWatch({
      store: { listMediaPods: () => current.listMediaPods() } as DialogStore,
      onLost: (p) => lost.push(p),
      logger: nullLogger,
    })
    await memory.registerMediaPod(pod('m1'), 60_000)
    assert.deepEqual(await watch.poll(), [])
    current = down
    await assert.rejects(down.listMediaPods(), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
    assert.deepEqual(await watch.poll(), [], 'an unreadable registry is not an empty one')
    current = memory
    assert.deepEqual(await watch.poll(), [])
    assert.deepEqual(lost, [])
    await watch.close()
    await down.close()
    await memory.close()
  })
})
