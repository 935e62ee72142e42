import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { SbcConfig } from '../../lib/config/model.ts'
import { applyObject } from '../../lib/kube/apply.ts'
import type { Condition } from '../../lib/kube/conditions.ts'
import type { KubeClient } from '../../lib/kube/kube-client.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import { redisFromConfig as mediaRedis } from '../../media-pod/src/config-redis.ts'
import { redisFromConfig as signallingRedis } from '../../signalling-pod/src/main.ts'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { render } from '../../test/helm/chart.ts'
import { K } from '../src/kinds.ts'
import { Operator } from '../src/manager.ts'
import { defaultRedisFromEnv, REDIS_CONDITION } from '../src/redis-default.ts'
import { applyChartRbac, installCrds, uclabIn } from './fixtures.ts'

// biome-ignore lint/suspicious/noExplicitAny: assertions read deep into API objects
type Any = any
type WithStatus = KubernetesObject & { status?: { conditions?: Condition[] } }

const suffix = randomBytes(3).toString('hex')
const opNs = `kube-sbc-rd-${suffix}`
const ns = `uclab-rd-${suffix}`
const release = `rd${suffix}`
const source = `${release}-redis`
const b64 = (s: string) => Buffer.from(s).toString('base64')

/**
 * The default Redis of the chart, end to end on the real API server: the operator gets exactly the
 * env the chart renders for it and exactly the chart's RBAC (as its ServiceAccount), and an SBC
 * that names no Redis (examples/uclab) must end up with pods configured for the chart's Redis and
 * a password Secret of its own namespace mirrored from the release namespace.
 */
describe('operator: the chart default Redis and the mirrored password Secret (real API server)', function () {
  this.timeout(180_000)
  let cp: ControlPlane
  let admin: KubeClient
  let operator: Operator | undefined
  const url = `redis://${release}-redis.${opNs}.svc:6379`

  const sbc = () => admin.get<Any>({ ...K.SessionBorderController, namespace: ns, name: 'sbc1' })
  const redisCondition = async () =>
    ((await sbc()) as WithStatus | undefined)?.status?.conditions?.find((c) => c.type === REDIS_CONDITION)
  const mirror = () => admin.get<Any>({ ...K.Secret, namespace: ns, name: 'sbc1-redis-auth' })
  const published = async (): Promise<SbcConfig> =>
    JSON.parse(
      (await admin.get<Any>({ ...K.ConfigMap, namespace: ns, name: 'sbc1-config' }))?.data['config.json'],
    )
  const setSource = (password: string) =>
    applyObject(
      admin,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: source, namespace: opNs },
        type: 'Opaque',
        data: { 'redis-password': b64(password) },
      } as KubernetesObject,
      { fieldManager: 'helm' },
    )

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    admin = cp.client
    await installCrds(admin)
    for (const n of [opNs, ns])
      await applyObject(admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } })
    const saName = await applyChartRbac(admin, release, opNs)
    const sa = await cp.serviceAccountKubeConfig(opNs, saName)
    // The env the chart gives the operator (default values: bundled Redis).
    const deployment = render({ release, namespace: opNs }).find(
      (o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-operator'),
    )
    const env: Record<string, string> = {}
    for (const e of deployment?.spec.template.spec.containers[0].env ?? [])
      if (typeof e.value === 'string') env[e.name] = e.value
    const defaultRedis = defaultRedisFromEnv(env)
    assert.equal(defaultRedis.url, url)
    await setSource('first-password')
    operator = new Operator({
      kubeConfig: sa.kubeConfig,
      namespace: opNs,
      leaderElect: false,
      image: 'example.test/kube-sbc:test',
      defaultRedis,
      throttleMs: 50,
      registry: createMetricsRegistry(),
    })
    await operator.start()
    for (const o of uclabIn(ns)) await applyObject(admin, o, { fieldManager: 'kubectl' })
  })

  after(async () => {
    await operator?.stop()
  })

  it('an SBC naming no Redis gets the default URL, a mirrored Secret, pods mounting it, and a condition saying so', async () => {
    const config = await eventually(async () => {
      const c = await published()
      assert.equal(c.interfaces.length, 3)
      return c
    })
    assert.deepEqual(config.redis, {
      mode: 'url',
      url,
      sentinel: null,
      password: { secret: 'sbc1-redis-auth', key: 'password' },
    })
    const owner = await sbc()
    const secret = await eventually(async () => {
      const s = await mirror()
      assert.ok(s, 'mirror Secret missing')
      return s
    })
    assert.equal(secret.data.password, b64('first-password'))
    assert.deepEqual(Object.keys(secret.data), ['password'])
    assert.deepEqual(
      secret.metadata.ownerReferences.map((r: Any) => [r.kind, r.name, r.uid, r.controller]),
      [['SessionBorderController', 'sbc1', owner.metadata.uid, true]],
    )
    for (const [kind, name] of [
      ['Deployment', 'sbc1-signalling'],
      ['DaemonSet', 'sbc1-media'],
    ] as const) {
      const w = await eventually(async () => {
        const o = await admin.get<Any>({ ...K[kind], namespace: ns, name })
        assert.ok(o?.spec.template.spec.volumes.some((v: Any) => v.secret?.secretName === 'sbc1-redis-auth'))
        return o
      })
      const vol = w.spec.template.spec.volumes.find((v: Any) => v.secret?.secretName === 'sbc1-redis-auth')
      const mount = w.spec.template.spec.containers[0].volumeMounts.find((m: Any) => m.name === vol.name)
      assert.equal(mount.mountPath, '/etc/kube-sbc/secrets/sbc1-redis-auth', kind)
    }
    // What the pods make of it: lay the mirror out as the kubelet mounts it and read it with the
    // pods' own functions.
    const dir = mkdtempSync(join(tmpdir(), 'kube-sbc-secrets-'))
    try {
      mkdirSync(join(dir, 'sbc1-redis-auth'))
      writeFileSync(join(dir, 'sbc1-redis-auth', 'password'), Buffer.from(secret.data.password, 'base64'))
      assert.deepEqual(signallingRedis(config, dir), { url, password: 'first-password' })
      assert.deepEqual(mediaRedis(config, dir), { url, password: 'first-password' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    const c = await eventually(async () => {
      const got = await redisCondition()
      assert.equal(got?.status, 'True')
      return got
    })
    assert.equal(c?.reason, 'DefaultRedis')
    assert.ok(c?.message.includes(url), c?.message)
    assert.ok(c?.message.includes(`${opNs}/${source}`), c?.message)
  })

  it('rotating the source password updates the mirror; a hand edit of the mirror is reverted', async () => {
    await setSource('second-password')
    await eventually(async () => assert.equal((await mirror())?.data.password, b64('second-password')))
    const s = await mirror()
    await admin.replace({ ...s, data: { password: b64('tampered') } })
    await eventually(async () => assert.equal((await mirror())?.data.password, b64('second-password')))
  })

  it('a missing source Secret gives RedisConfigured=False naming it (the existing mirror is kept); it recovers', async () => {
    await admin.delete({ ...K.Secret, namespace: opNs, name: source })
    await eventually(async () => {
      const c = await redisCondition()
      assert.equal(c?.status, 'False')
      assert.equal(c?.reason, 'SecretNotFound')
      assert.match(c?.message ?? '', new RegExp(`${opNs}/${source} \\(key redis-password\\) does not exist`))
      const ready = ((await sbc()) as WithStatus).status?.conditions?.find((x) => x.type === 'Ready')
      assert.equal(ready?.status, 'False')
      assert.match(ready?.message ?? '', /RedisConfigured is False \(SecretNotFound\)/)
    })
    assert.equal((await mirror())?.data.password, b64('second-password'))
    const events = await admin.request<Any>({
      method: 'GET',
      path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    })
    assert.ok(events.items.some((e: Any) => e.type === 'Warning' && e.reason === 'SecretNotFound'))
    await setSource('third-password')
    await eventually(async () => {
      assert.equal((await redisCondition())?.status, 'True')
      assert.equal((await mirror())?.data.password, b64('third-password'))
    })
  })

  it('an SBC that names its own Redis uses it, and the mirror is deleted', async () => {
    const own = uclabIn(ns).find((o) => o.kind === 'SessionBorderController') as Any
    own.spec.redis = { url: 'redis://redis.example.test:6379' }
    await applyObject(admin, own, { fieldManager: 'kubectl' })
    await eventually(async () => {
      assert.equal((await published()).redis.url, 'redis://redis.example.test:6379')
      assert.equal((await redisCondition())?.reason, 'SpecRedis')
      assert.equal(await mirror(), undefined)
    })
    assert.equal((await published()).redis.password, null)
  })
})
