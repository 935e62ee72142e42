import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { KubernetesObject } from '@kubernetes/client-node'
import { API_VERSION } from '../../lib/api/v1alpha1/group.ts'
import { applyObject } from '../../lib/kube/apply.ts'
import type { Condition } from '../../lib/kube/conditions.ts'
import type { KubeClient } from '../../lib/kube/kube-client.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import { Operator } from '../../operator/src/manager.ts'
import { installCrds } from '../../operator/test/fixtures.ts'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { type SippResult, startSipp } from '../../test/harness/sipp.ts'
import { root, scenario } from '../b2bua/harness.ts'

/**
 * Issue 6, "pods follow the cluster": the operator (in process) publishes the snapshot of a
 * loopback SBC; `bin/kube-sbc signalling --sbc` runs as the pods' ServiceAccount against the real
 * kube-apiserver; a RoutingRule change moves new calls from SIPp UAS A to UAS B while a call set
 * up before the change ends with its BYE.
 */

// biome-ignore lint/suspicious/noExplicitAny: reads deep into API objects
type Any = any

const suffix = randomBytes(3).toString('hex')
const ns = `cluster-sig-${suffix}`
const sbc = 'edge'
const podName = `${sbc}-signalling-${suffix}`

const obj = (kind: string, name: string, spec: unknown): KubernetesObject =>
  ({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec }) as KubernetesObject

const proxy = (port: number) => ({
  proxySet: { proxies: [{ address: '127.0.0.1', port, transport: 'UDP' }] },
})

const rule = (target: string) =>
  obj('RoutingRule', 'to-uas', {
    order: 10,
    match: { sourceIPGroups: ['caller', 'caller-long'] },
    action: { route: { targets: [{ ipGroup: target }] } },
  })

function ok(r: SippResult, who: string): void {
  assert.equal(r.exitCode, 0, `${who} failed:\n${r.output.slice(-3000)}`)
  assert.equal(r.successfulCalls, 1, `${who}: ${r.output.slice(-2000)}`)
}

describe('kube-sbc signalling follows the cluster (real API server, pods ServiceAccount)', function () {
  this.timeout(120_000)
  let cp: ControlPlane
  let admin: KubeClient
  let operator: Operator | undefined
  let signalling: StartedProcess | undefined
  const ports = { sip: 0, http: 0, uac: 0, uacLong: 0, uasA: 0, uasB: 0 }

  const acked = async () => {
    const lease = await admin.get<Any>({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: ns,
      name: podName,
    })
    return Number(lease?.metadata.annotations?.['sbc.kubesbc.io/applied-generation'] ?? 0)
  }
  const published = async () => {
    const cm = await admin.get<Any>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns,
      name: `${sbc}-config`,
    })
    return {
      generation: Number(cm?.metadata.annotations?.['sbc.kubesbc.io/generation'] ?? 0),
      config: JSON.parse(cm?.data?.['config.json'] ?? '{}'),
    }
  }
  const ruleProgrammed = async () => {
    const r = await admin.get<Any>({
      apiVersion: API_VERSION,
      kind: 'RoutingRule',
      namespace: ns,
      name: 'to-uas',
    })
    const c = (r?.status?.conditions as Condition[] | undefined)?.find((x) => x.type === 'Programmed')
    assert.equal(c?.status, 'True', JSON.stringify(r?.status))
    assert.equal(c?.observedGeneration, r.metadata.generation)
  }

  before(async () => {
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort()
    cp = await sharedControlPlane('apiserver')
    admin = cp.client
    await installCrds(admin)
    await applyObject(admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    operator = new Operator({
      kubeConfig: cp.kubeConfig,
      namespace: ns,
      leaderElect: false,
      image: 'example.test/kube-sbc:test',
      throttleMs: 50,
      registry: createMetricsRegistry(),
    })
    await operator.start()
    const objects = [
      obj('SessionBorderController', sbc, { security: { unclassified: 'Reject' } }),
      obj('MediaRealm', 'media', {
        network: 'LAN',
        bindAddress: '127.0.0.1',
        portRange: { min: 40000, max: 40099 },
      }),
      obj('SipInterface', 'lan', {
        network: 'LAN',
        bindAddress: '127.0.0.1',
        listeners: [{ transport: 'UDP', port: ports.sip }],
        mediaRealmRef: { name: 'media' },
      }),
      obj('IPProfile', 'default', { media: { srtp: { mode: 'Optional' }, codecs: [{ name: 'PCMU' }] } }),
      ...(
        [
          ['caller', ports.uac],
          ['caller-long', ports.uacLong],
          ['uas-a', ports.uasA],
          ['uas-b', ports.uasB],
        ] as const
      ).map(([name, port]) =>
        obj('IPGroup', name, {
          sipInterfaceRef: { name: 'lan' },
          ipProfileRef: { name: 'default' },
          ...proxy(port),
        }),
      ),
      rule('uas-a'),
    ]
    for (const o of objects) await applyObject(admin, o, { fieldManager: 'kubectl' })
    // The operator creates the pods' ServiceAccount, Role and RoleBinding; run as that account.
    await eventually(async () =>
      assert.ok(
        await admin.get({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          namespace: ns,
          name: `${sbc}-pods`,
        }),
      ),
    )
    const sa = await cp.serviceAccountKubeConfig(ns, `${sbc}-pods`)
    await eventually(async () => assert.equal((await published()).config.groups?.length, 4))
    signalling = startProcess(
      join(root, 'bin', 'kube-sbc'),
      // No media pod runs here: the calls' SDP passes through (media is covered in e2e/media).
      ['signalling', '--sbc', sbc, '--kubeconfig', sa.path, '--http-port', String(ports.http), '--no-media'],
      { env: { ...process.env, POD_NAME: podName, POD_NAMESPACE: ns } },
    )
    await signalling.waitForOutput(/Started signalling/, 30_000)
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(signalling?.output().slice(-8000))
  })

  after(async () => {
    await signalling?.stop(5000)
    await operator?.stop()
  })

  it('acknowledges the published generation and turns Programmed True; /readyz is up', async () => {
    const { generation } = await published()
    await eventually(async () => assert.ok((await acked()) >= generation))
    await eventually(ruleProgrammed)
    assert.equal((await fetch(`http://127.0.0.1:${ports.http}/readyz`)).status, 200)
    const metrics = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text()
    assert.match(
      metrics,
      new RegExp(`^sbc_signalling_config_generation(\\{[^}]*\\})? ${await acked()}$`, 'm'),
    )
  })

  it('a routing change moves new calls from UAS A to UAS B; a call up during the change survives', async () => {
    const uasA = await startSipp({
      scenario: { file: await scenario('uas-answer.xml') },
      transport: 'u1',
      localPort: ports.uasA,
      calls: 1,
      timeoutSeconds: 90,
    })
    const uasB = await startSipp({
      scenario: { file: await scenario('uas-answer.xml') },
      transport: 'u1',
      localPort: ports.uasB,
      calls: 1,
      timeoutSeconds: 90,
    })
    // The long call (to A): it hangs up after its pause, which must outlast the change below.
    const longUac = await startSipp({
      scenario: { file: await scenario('uac-call.xml', { PAUSE: '10000' }) },
      target: `127.0.0.1:${ports.sip}`,
      transport: 'u1',
      localPort: ports.uacLong,
      calls: 1,
      timeoutSeconds: 90,
    })
    let longEnded = false
    const longResult = longUac.result().finally(() => {
      longEnded = true
    })
    await signalling?.waitForOutput(/Answered call/, 30_000)
    const before = (await published()).generation
    await applyObject(admin, rule('uas-b'), { fieldManager: 'kubectl' })
    await eventually(async () => assert.ok((await published()).generation > before))
    const after = (await published()).generation
    await eventually(async () => assert.ok((await acked()) >= after))
    await eventually(ruleProgrammed)
    await signalling?.waitForOutput(new RegExp(`Applied SbcConfig generation ${after}`), 1000)
    // A new call now reaches UAS B.
    const uac = await startSipp({
      scenario: { file: await scenario('uac-call.xml') },
      target: `127.0.0.1:${ports.sip}`,
      transport: 'u1',
      localPort: ports.uac,
      calls: 1,
      timeoutSeconds: 30,
    })
    ok(await uac.result(), 'UAC after the change')
    ok(await uasB.result(), 'UAS B')
    assert.equal(longEnded, false, 'the long call ended before the change was verified; it proves nothing')
    ok(await longResult, 'long UAC (set up before the change)')
    ok(await uasA.result(), 'UAS A (long call, BYE after the change)')
  })
})
