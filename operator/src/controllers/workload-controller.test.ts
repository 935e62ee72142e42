import assert from 'node:assert/strict'
import type { KubernetesObject } from '@kubernetes/client-node'
import { K } from '../kinds.ts'
import { MemoryStore } from '../store.ts'
import { FakeApi } from '../testing/fake-api.ts'
import { uclabObjects } from '../testing/uclab.ts'
import { ConfigController } from './config-controller.ts'
import { WorkloadController } from './workload-controller.ts'

// biome-ignore lint/suspicious/noExplicitAny: test reads deep into rendered objects
type Any = any

async function setup() {
  const store = new MemoryStore(uclabObjects())
  const api = new FakeApi(store)
  await new ConfigController({ store, api, throttleMs: 0 }).reconcile('uclab/sbc1')
  api.reset()
  const controller = new WorkloadController({ store, api, image: 'example.test/kube-sbc:1' })
  return { store, api, controller }
}

const get = (store: MemoryStore, kind: keyof typeof K, name: string) =>
  store.get(K[kind], name, 'uclab') as (KubernetesObject & Any) | undefined

describe('WorkloadController (pure)', () => {
  it('applies the contract objects once; a second reconcile writes nothing', async () => {
    const { store, api, controller } = await setup()
    await controller.reconcile('uclab/sbc1')
    assert.deepEqual(
      api.writes.map((w) => `${w.op} ${w.kind} ${w.name}`),
      [
        'apply ServiceAccount sbc1-pods',
        'apply Role sbc1-pods',
        'apply RoleBinding sbc1-pods',
        'apply Deployment sbc1-signalling',
        'apply PodDisruptionBudget sbc1-signalling',
        'apply DaemonSet sbc1-media',
        'apply NetworkPolicy sbc1-media-control',
        'apply Service sbc1-si-trunk',
        'apply Service sbc1-si-twilio',
        'apply Service sbc1-si-webex',
      ],
    )
    api.reset()
    await controller.reconcile('uclab/sbc1')
    assert.deepEqual(api.writes, [])

    const dep = get(store, 'Deployment', 'sbc1-signalling')
    const pod = dep.spec.template.spec
    assert.equal(dep.spec.replicas, 2)
    assert.deepEqual(pod.containers[0].args, ['signalling', '--sbc=sbc1', '--http-port=8080'])
    assert.equal(pod.containers[0].readinessProbe.httpGet.path, '/readyz')
    assert.equal(pod.containers[0].livenessProbe.httpGet.path, '/healthz')
    assert.deepEqual(pod.volumes.map((v: Any) => v.secret?.secretName).filter(Boolean), [
      'sbc1-tls',
      'webex-client-ca',
    ])
    assert.equal(pod.serviceAccountName, 'sbc1-pods')
    assert.equal(pod.containers[0].securityContext.allowPrivilegeEscalation, false)
    assert.deepEqual(dep.metadata.labels, {
      'app.kubernetes.io/name': 'kube-sbc',
      'app.kubernetes.io/instance': 'sbc1',
      'app.kubernetes.io/component': 'signalling',
      'app.kubernetes.io/managed-by': 'kube-sbc-operator',
    })
    const ds = get(store, 'DaemonSet', 'sbc1-media').spec.template.spec
    assert.equal(ds.hostNetwork, true)
    assert.equal(ds.dnsPolicy, 'ClusterFirstWithHostNet')
    assert.deepEqual(ds.containers[0].securityContext.capabilities, { drop: ['ALL'] })
    assert.match(
      ds.containers[0].env.find((e: Any) => e.name === 'SBC_MEDIA_PORT_RANGES').value,
      /mr-webex=20000-20399/,
    )
    const svc = get(store, 'Service', 'sbc1-si-trunk')
    assert.deepEqual(
      svc.spec.ports.map((p: Any) => `${p.name}/${p.protocol}`),
      ['tcp-5060/TCP', 'udp-5060/UDP'],
    )
  })

  it('re-applies after a hand edit and deletes the Service of a removed SipInterface', async () => {
    const { store, api, controller } = await setup()
    await controller.reconcile('uclab/sbc1')
    const dep = get(store, 'Deployment', 'sbc1-signalling')
    store.put({ ...dep, metadata: { ...dep.metadata, generation: 7 } })
    store.remove(K.SipInterface, 'si-twilio', 'uclab')
    await new ConfigController({ store, api, throttleMs: 0 }).reconcile('uclab/sbc1')
    api.reset()
    await controller.reconcile('uclab/sbc1')
    const ops = api.writes.map((w) => `${w.op} ${w.kind} ${w.name}`)
    assert.ok(ops.includes('apply Deployment sbc1-signalling'))
    assert.ok(ops.includes('delete Service sbc1-si-twilio'))
  })

  it('NodePort and LoadBalancer Services keep the client address', async () => {
    const { store, controller } = await setup()
    const si = get(store, 'SipInterface', 'si-trunk')
    store.put({ ...si, spec: { ...si.spec, exposure: { mode: 'Service', serviceType: 'NodePort' } } })
    await new ConfigController({ store, api: new FakeApi(store), throttleMs: 0 }).reconcile('uclab/sbc1')
    await controller.reconcile('uclab/sbc1')
    const svc = get(store, 'Service', 'sbc1-si-trunk')
    assert.equal(svc.spec.type, 'NodePort')
    assert.equal(svc.spec.externalTrafficPolicy, 'Local')
    assert.equal(get(store, 'Service', 'sbc1-si-webex').spec.type, 'ClusterIP')
  })

  it('passes spec.media.workerSpillPps to the media pods, and nothing when it is not set', async () => {
    const { store, controller } = await setup()
    const args = () => get(store, 'DaemonSet', 'sbc1-media').spec.template.spec.containers[0].args as string[]
    await controller.reconcile('uclab/sbc1')
    assert.ok(!args().some((a) => a.startsWith('--worker-spill-pps')))
    const sbc = get(store, 'SessionBorderController', 'sbc1')
    store.put({ ...sbc, spec: { ...sbc.spec, media: { ...sbc.spec.media, workerSpillPps: 0 } } })
    await controller.reconcile('uclab/sbc1')
    assert.ok(args().includes('--worker-spill-pps=0'))
  })

  it('runs real-time relay threads for spec.media.workerPriority: the flag, UID 0 with only SYS_NICE; restricted without it', async () => {
    const { store, controller } = await setup()
    const pod = () => get(store, 'DaemonSet', 'sbc1-media').spec.template.spec
    await controller.reconcile('uclab/sbc1')
    assert.ok(!pod().containers[0].args.some((a: string) => a.startsWith('--worker-priority')))
    assert.equal(pod().securityContext.runAsUser, 65532)
    assert.deepEqual(pod().containers[0].securityContext.capabilities, { drop: ['ALL'] })
    const sbc = get(store, 'SessionBorderController', 'sbc1')
    store.put({ ...sbc, spec: { ...sbc.spec, media: { ...sbc.spec.media, workerPriority: 10 } } })
    await controller.reconcile('uclab/sbc1')
    assert.ok(pod().containers[0].args.includes('--worker-priority=10'))
    assert.deepEqual(
      [pod().securityContext.runAsUser, pod().securityContext.runAsNonRoot, pod().securityContext.fsGroup],
      [0, false, undefined],
    )
    const sc = pod().containers[0].securityContext
    assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: ['SYS_NICE'] })
    assert.deepEqual([sc.allowPrivilegeEscalation, sc.readOnlyRootFilesystem], [false, true])
    // Back to 0: normal threads, the restricted contexts again.
    store.put({ ...sbc, spec: { ...sbc.spec, media: { ...sbc.spec.media, workerPriority: 0 } } })
    await controller.reconcile('uclab/sbc1')
    assert.ok(!pod().containers[0].args.some((a: string) => a.startsWith('--worker-priority')))
    assert.equal(pod().securityContext.runAsUser, 65532)
  })
})
