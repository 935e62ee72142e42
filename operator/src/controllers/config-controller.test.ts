import assert from 'node:assert/strict'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { Condition } from '../../../lib/kube/conditions.ts'
import { microTime } from '../../../lib/kube/leader-election.ts'
import { K } from '../kinds.ts'
import { ANNOTATION_APPLIED_GENERATION, ANNOTATION_GENERATION, CONFIG_KEY } from '../names.ts'
import { MemoryStore } from '../store.ts'
import { FakeApi } from '../testing/fake-api.ts'
import { uclabObjects } from '../testing/uclab.ts'
import { ConfigController } from './config-controller.ts'

const KEY = 'uclab/sbc1'
const T0 = Date.parse('2026-11-26T12:00:00Z')

function setup() {
  const store = new MemoryStore(uclabObjects())
  const api = new FakeApi(store)
  let now = T0
  const controller = new ConfigController({ store, api, now: () => now, throttleMs: 0 })
  return { store, api, controller, advance: (ms: number) => (now += ms), now: () => now }
}

type Obj = KubernetesObject & { status?: { conditions?: Condition[]; [k: string]: unknown } }
const cond = (store: MemoryStore, kind: keyof typeof K, name: string, type: string) =>
  (store.get(K[kind], name, 'uclab') as Obj | undefined)?.status?.conditions?.find((c) => c.type === type)

function lease(name: string, role: string, generation: number, renewMs: number): KubernetesObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace: 'uclab',
      labels: { 'sbc.kubesbc.io/sbc': 'sbc1', 'sbc.kubesbc.io/role': role },
      annotations: { [ANNOTATION_APPLIED_GENERATION]: String(generation) },
    },
    spec: { holderIdentity: name, leaseDurationSeconds: 30, renewTime: microTime(renewMs) },
  } as KubernetesObject
}

describe('ConfigController (pure)', () => {
  it('publishes generation 1, writes every status, and a second reconcile writes nothing', async () => {
    const { store, api, controller } = setup()
    await controller.reconcile(KEY)
    const cm = store.get(K.ConfigMap, 'sbc1-config', 'uclab') as KubernetesObject & {
      data: Record<string, string>
    }
    assert.equal(cm.metadata?.annotations?.[ANNOTATION_GENERATION], '1')
    assert.equal(JSON.parse(cm.data[CONFIG_KEY] ?? '{}').generation, 1)
    assert.deepEqual(
      cm.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.controller]),
      [['SessionBorderController', 'sbc1', true]],
    )
    const statuses = api.writes.filter((w) => w.op === 'status')
    assert.equal(statuses.length, uclabObjects().filter((o) => o.kind !== 'Secret').length)
    assert.equal(cond(store, 'RoutingRule', 'webex-to-twilio', 'Accepted')?.status ?? 'True', 'True')
    assert.equal(cond(store, 'SessionBorderController', 'sbc1', 'Accepted')?.status, 'True')
    assert.equal(cond(store, 'SessionBorderController', 'sbc1', 'Programmed')?.status, 'False')
    assert.equal(cond(store, 'SessionBorderController', 'sbc1', 'Ready')?.status, 'False')
    const sbc = store.get(K.SessionBorderController, 'sbc1', 'uclab') as Obj
    assert.equal(sbc.status?.configGeneration, 1)
    assert.equal(sbc.status?.observedGeneration, 1)

    api.reset()
    await controller.reconcile(KEY)
    assert.deepEqual(api.writes, [])
    assert.deepEqual(api.events, [])
  })

  it('turns Programmed and Ready True once live pods of every role acknowledge the generation', async () => {
    const { store, api, controller, now, advance } = setup()
    await controller.reconcile(KEY)
    store.put(lease('sig-a', 'signalling', 1, now()))
    store.put(lease('media-a', 'media', 0, now()))
    await controller.reconcile(KEY)
    assert.equal(cond(store, 'MediaRealm', 'mr-webex', 'Programmed')?.status, 'False')
    assert.match(cond(store, 'MediaRealm', 'mr-webex', 'Programmed')?.message ?? '', /acknowledged 0/)
    store.put(lease('media-a', 'media', 1, now()))
    advance(2000)
    await controller.reconcile(KEY)
    assert.equal(cond(store, 'MediaRealm', 'mr-webex', 'Programmed')?.status, 'True')
    assert.equal(cond(store, 'SessionBorderController', 'sbc1', 'Ready')?.status, 'True')
    const sbc = store.get(K.SessionBorderController, 'sbc1', 'uclab') as Obj
    assert.equal(sbc.status?.acknowledgedGeneration, 1)
    const before = cond(store, 'MediaRealm', 'mr-webex', 'Accepted')?.lastTransitionTime
    api.reset()
    advance(5000)
    await controller.reconcile(KEY)
    assert.deepEqual(api.writes, [])
    // An expired lease no longer counts: with no live pods, Programmed goes back to False.
    advance(60_000)
    await controller.reconcile(KEY)
    assert.equal(cond(store, 'MediaRealm', 'mr-webex', 'Programmed')?.status, 'False')
    assert.equal(cond(store, 'MediaRealm', 'mr-webex', 'Accepted')?.lastTransitionTime, before)
  })

  it('names a missing IPGroup in ResolvedRefs, emits a Warning, and resolves when it appears', async () => {
    const { store, api, controller } = setup()
    const group = store.get(K.IPGroup, 'twilio', 'uclab')
    assert.ok(group)
    store.remove(K.IPGroup, 'twilio', 'uclab')
    await controller.reconcile(KEY)
    const bad = store
      .list(K.RoutingRule, 'uclab')
      .map((r) => (r as Obj).status?.conditions?.find((c) => c.type === 'ResolvedRefs'))
      .filter((c) => c?.status === 'False')
    assert.ok(bad.length > 0)
    assert.match(bad[0]?.message ?? '', /twilio/)
    assert.ok(api.events.some((e) => e.type === 'Warning' && /twilio/.test(e.note)))
    const gen = (store.get(K.SessionBorderController, 'sbc1', 'uclab') as Obj).status?.configGeneration

    store.put(group)
    api.reset()
    await controller.reconcile(KEY)
    const after = store
      .list(K.RoutingRule, 'uclab')
      .map((r) => (r as Obj).status?.conditions?.find((c) => c.type === 'ResolvedRefs')?.status)
    assert.ok(after.every((s) => s === 'True'))
    assert.equal(
      (store.get(K.SessionBorderController, 'sbc1', 'uclab') as Obj).status?.configGeneration,
      Number(gen) + 1,
    )
  })

  it('bumps the generation of a changed object only, and maps its metadata.generation to it', async () => {
    const { store, controller, now } = setup()
    await controller.reconcile(KEY)
    const realm = store.get(K.MediaRealm, 'mr-webex', 'uclab') as KubernetesObject & {
      spec: { maxSessions: number }
    }
    store.put({
      ...realm,
      metadata: { ...realm.metadata, generation: 2 },
      spec: { ...realm.spec, maxSessions: 50 },
    } as KubernetesObject)
    store.put(lease('sig-a', 'signalling', 1, now()))
    await controller.reconcile(KEY)
    assert.equal(cond(store, 'MediaRealm', 'mr-webex', 'Programmed')?.status, 'False')
    assert.equal(cond(store, 'MediaRealm', 'mr-siptrunk', 'Programmed')?.status, 'True')
    store.put(lease('sig-a', 'signalling', 2, now()))
    await controller.reconcile(KEY)
    assert.equal(cond(store, 'MediaRealm', 'mr-webex', 'Programmed')?.status, 'True')
    assert.equal(cond(store, 'MediaRealm', 'mr-webex', 'Programmed')?.observedGeneration, 2)
  })

  it('throttles: a second compile within the window is deferred', async () => {
    const store = new MemoryStore(uclabObjects())
    const api = new FakeApi(store)
    const controller = new ConfigController({ store, api, now: () => T0, throttleMs: 500 })
    await controller.reconcile(KEY)
    api.reset()
    assert.deepEqual(await controller.reconcile(KEY), { requeueAfterMs: 500 })
  })
})

describe('ConfigController: the default Redis (pure)', () => {
  const defaultRedis = {
    mode: 'bundled' as const,
    url: 'redis://rel-redis.kube-sbc.svc:6379',
    passwordSecret: { namespace: 'kube-sbc', name: 'rel-redis', key: 'redis-password' },
  }
  const source = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'rel-redis', namespace: 'kube-sbc' },
    data: { 'redis-password': 'c2VjcmV0' },
  } as KubernetesObject
  function setupDefault() {
    const store = new MemoryStore([...uclabObjects(), source])
    const api = new FakeApi(store)
    const controller = new ConfigController({ store, api, now: () => T0, throttleMs: 0, defaultRedis })
    return { store, api, controller }
  }

  it('mirrors before publishing, and an idle second reconcile writes nothing', async () => {
    const { store, api, controller } = setupDefault()
    await controller.reconcile(KEY)
    const applied = api.writes.filter((w) => w.op === 'apply').map((w) => `${w.kind}/${w.name}`)
    assert.deepEqual(applied, ['Secret/sbc1-redis-auth', 'ConfigMap/sbc1-config'])
    const cm = store.get(K.ConfigMap, 'sbc1-config', 'uclab') as KubernetesObject & {
      data: Record<string, string>
    }
    assert.deepEqual(JSON.parse(cm.data[CONFIG_KEY] ?? '{}').redis.password, {
      secret: 'sbc1-redis-auth',
      key: 'password',
    })
    assert.equal(cond(store, 'SessionBorderController', 'sbc1', 'RedisConfigured')?.reason, 'DefaultRedis')
    api.reset()
    await controller.reconcile(KEY)
    assert.deepEqual(api.writes, [])
  })

  it('does not overwrite a Secret of that name it does not own, and says so', async () => {
    const { store, api, controller } = setupDefault()
    store.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'sbc1-redis-auth', namespace: 'uclab' },
      data: { password: 'dXNlcg==' },
    } as KubernetesObject)
    await controller.reconcile(KEY)
    assert.ok(!api.writes.some((w) => w.kind === 'Secret'))
    const c = cond(store, 'SessionBorderController', 'sbc1', 'RedisConfigured')
    assert.equal(c?.status, 'False')
    assert.equal(c?.reason, 'MirrorFailed')
    assert.match(c?.message ?? '', /Secret uclab\/sbc1-redis-auth exists and is not owned/)
    // The rest is still published.
    assert.ok(store.get(K.ConfigMap, 'sbc1-config', 'uclab'))
  })
})
