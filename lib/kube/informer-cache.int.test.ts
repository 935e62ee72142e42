import assert from 'node:assert/strict'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { applyObject } from './apply.ts'
import { Controller } from './controller.ts'
import { InformerCache } from './informer-cache.ts'
import { constantKey, ownerKeys, splitKey } from './keys.ts'
import { ManualClock } from './manual-clock.ts'
import { WorkQueue } from './work-queue.ts'

type ConfigMap = KubernetesObject & { data?: Record<string, string> }

const cmKind = { apiVersion: 'v1', kind: 'ConfigMap' } as const

/** Takes every key currently queued (marking each done), sorted. */
async function drain(q: WorkQueue<string>): Promise<string[]> {
  const keys: string[] = []
  while (q.depth > 0) {
    const r = await q.get()
    if (r.shutdown) break
    keys.push(r.item)
    q.done(r.item)
  }
  return keys.sort()
}

describe('InformerCache (real API server)', function () {
  this.timeout(180_000)
  let cp: ControlPlane
  const ns = `informer-${Date.now()}`
  const stops: (() => Promise<void>)[] = []

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    await applyObject(cp.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  })

  after(async () => {
    for (const s of stops) await s()
  })

  it('lists existing objects, then sees create, update and delete as keys, and resyncs', async () => {
    await applyObject(cp.client, { ...cmKind, metadata: { name: 'before', namespace: ns }, data: { v: '0' } })
    const clock = new ManualClock()
    const queue = new WorkQueue<string>()
    const informer = new InformerCache<ConfigMap>(cp.client, cmKind, {
      namespace: ns,
      resyncMs: 60_000,
      clock,
    })
    informer.enqueueTo(queue)
    await informer.start()
    stops.push(() => informer.stop())
    assert.equal(informer.synced, true)
    assert.equal(informer.get('before', ns)?.data?.v, '0')
    assert.deepEqual(await drain(queue), [`${ns}/before`])

    await applyObject(cp.client, { ...cmKind, metadata: { name: 'a', namespace: ns }, data: { v: '1' } })
    await eventually(() => assert.equal(informer.get('a', ns)?.data?.v, '1'))
    assert.deepEqual(await drain(queue), [`${ns}/a`])

    await applyObject(cp.client, { ...cmKind, metadata: { name: 'a', namespace: ns }, data: { v: '2' } })
    await eventually(() => assert.equal(informer.get('a', ns)?.data?.v, '2'))
    assert.deepEqual(await drain(queue), [`${ns}/a`])

    await cp.client.delete({ ...cmKind, namespace: ns, name: 'a' })
    await eventually(() => assert.equal(informer.get('a', ns), undefined))
    assert.deepEqual(await drain(queue), [`${ns}/a`])

    // nothing changes, but the resync period passes: every cached object is enqueued again
    clock.advance(60_000)
    assert.deepEqual(await drain(queue), [`${ns}/before`])
  })

  it('maps owned objects to owner keys and everything to a root key', async () => {
    const owners = new WorkQueue<string>()
    const root = new WorkQueue<string>()
    const informer = new InformerCache<ConfigMap>(cp.client, cmKind, { namespace: ns, resyncMs: 0 })
    informer.enqueueTo(owners, ownerKeys('ConfigMap', 'v1')).enqueueTo(root, constantKey('sbc/config'))
    await informer.start()
    stops.push(() => informer.stop())
    await drain(owners)
    await drain(root)

    const parent = await cp.client.create<ConfigMap>({
      ...cmKind,
      metadata: { name: 'parent', namespace: ns },
    })
    await cp.client.create({
      ...cmKind,
      metadata: {
        name: 'kid',
        namespace: ns,
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'parent', uid: parent.metadata!.uid! },
        ],
      },
    } as never)
    await eventually(() => assert.ok(informer.get('kid', ns)))
    assert.deepEqual(await drain(owners), [`${ns}/parent`])
    assert.deepEqual(await drain(root), ['sbc/config'], 'two changes, one root key')
  })

  it('drives a Controller that converges without seeing event types', async () => {
    // Reconciler: every ConfigMap labelled `mirror=yes` gets a `<name>-mirror` copy of its data.
    const queue = new WorkQueue<string>()
    const informer = new InformerCache<ConfigMap>(cp.client, cmKind, { namespace: ns, resyncMs: 0 })
    const controller = new Controller({
      name: 'mirror',
      queue,
      workers: 2,
      reconciler: {
        async reconcile(key) {
          const { namespace, name } = splitKey(key)
          if (name.endsWith('-mirror')) return
          const src = informer.get(name, namespace) as
            | (ConfigMap & { metadata: { labels?: object } })
            | undefined
          const mirror = { ...cmKind, namespace: namespace!, name: `${name}-mirror` }
          if (!src || (src.metadata.labels as Record<string, string> | undefined)?.mirror !== 'yes') {
            await cp.client.delete(mirror)
            return
          }
          await applyObject(cp.client, {
            ...cmKind,
            metadata: { name: mirror.name, namespace: mirror.namespace },
            data: src.data ?? {},
          })
        },
      },
    })
    informer.enqueueTo(queue)
    await informer.start()
    controller.start()
    stops.push(async () => {
      await controller.stop()
      await informer.stop()
    })
    const mirrorOf = async (name: string) =>
      cp.client.get<ConfigMap>({ ...cmKind, namespace: ns, name: `${name}-mirror` })

    await applyObject(cp.client, {
      ...cmKind,
      metadata: { name: 'src', namespace: ns, labels: { mirror: 'yes' } },
      data: { k: 'v1' },
    } as never)
    await eventually(async () => assert.deepEqual((await mirrorOf('src'))?.data, { k: 'v1' }))
    await applyObject(cp.client, {
      ...cmKind,
      metadata: { name: 'src', namespace: ns, labels: { mirror: 'yes' } },
      data: { k: 'v2' },
    } as never)
    await eventually(async () => assert.deepEqual((await mirrorOf('src'))?.data, { k: 'v2' }))
    await cp.client.delete({ ...cmKind, namespace: ns, name: 'src' })
    await eventually(async () => assert.equal(await mirrorOf('src'), undefined))
  })
})
