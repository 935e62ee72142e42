import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import type { KubernetesObject } from '@kubernetes/client-node'
import { compile } from '../../lib/config/compile/compile.ts'
import { mediaRealm, sbc, withField } from '../../lib/config/compile/fixtures.ts'
import { applyObject } from '../../lib/kube/apply.ts'
import { podRoleRules } from '../../lib/kube/pod-role-rules.ts'
import { NgRemoteError } from '../../lib/media/control/errors.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { audioSdp, endpointOf, Peer, portBase, rtpPacket } from './helpers.ts'

/**
 * `kube-sbc media --sbc` against the real API server (shared control plane, apiserver mode), with
 * the Role the operator gives pods: the process reads ConfigMap `<sbc>-config` (a snapshot from
 * `compile`), acknowledges generation 1 in its Lease, then generation 2 after a realm's port range
 * changed, another realm was removed and one added. New offers take ports from the new range while a
 * call set up under generation 1 keeps relaying; offers naming the removed realm are refused while its
 * running call still relays.
 */
describe('kube-sbc media follows the cluster (real API server)', function () {
  this.timeout(120_000)
  const ns = `media-cluster-${randomBytes(3).toString('hex')}`
  const base = portBase(600)
  let cp: ControlPlane
  let media: StartedProcess | undefined
  let ng: NgClient | undefined
  let podUid = ''

  const realm = (name: string, min: number, max: number) =>
    mediaRealm(name, withField('portRange.min', min), withField('portRange.max', max))
  const publish = async (generation: number, realms: ReturnType<typeof realm>[]) => {
    const { config, verdicts } = compile([sbc('sbc1'), ...realms], { generation })
    assert.deepEqual(
      config.realms.map((r) => `${r.name}:${r.portRange.min}`).sort(),
      realms.map((r) => `${r.metadata.name}:${(r.spec.portRange as { min: number }).min}`).sort(),
      JSON.stringify(verdicts),
    )
    await applyObject(cp.client, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'sbc1-config',
        namespace: ns,
        annotations: { 'sbc.kubesbc.io/generation': String(generation) },
      },
      data: { 'config.json': JSON.stringify({ ...config, namespace: ns }) },
    } as KubernetesObject)
  }
  const appliedGeneration = async () => {
    const l = await cp.client.get<KubernetesObject & { spec: { holderIdentity: string } }>({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: ns,
      name: 'sbc1-media-n0',
    })
    return l
  }

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    await applyObject(cp.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    // Exactly the Role the operator gives pods (operator/src/workloads/rbac.ts uses the same rules).
    await applyObject(cp.client, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'sbc1-pods', namespace: ns },
      rules: podRoleRules,
    } as KubernetesObject)
    await applyObject(cp.client, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'sbc1-pods', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sbc1-pods' },
      subjects: [{ kind: 'ServiceAccount', name: 'sbc1-pods', namespace: ns }],
    } as KubernetesObject)
    // A Pod object (never scheduled in apiserver mode) so the Lease can be owned by a real uid.
    const pod = await applyObject(cp.client, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'sbc1-media-n0', namespace: ns },
      spec: { containers: [{ name: 'media', image: 'kube-sbc:test' }] },
    } as KubernetesObject)
    podUid = String(pod.metadata?.uid)
  })

  after(async () => {
    await ng?.close()
    if (media) await media.stop()
  })

  it('acknowledges generation N, then N+1 after a port range change; new offers use the new range, calls keep relaying', async () => {
    await publish(1, [realm('mr', base, base + 99), realm('gone', base + 400, base + 499)])
    const { path } = await cp.serviceAccountKubeConfig(ns, 'sbc1-pods')
    const ngPort = await freePort()
    media = startProcess(
      process.execPath,
      [
        'cli/main.ts',
        'media',
        '--sbc',
        'sbc1',
        '--kubeconfig',
        path,
        '--ng-port',
        String(ngPort),
        '--http-port',
        String(await freePort()),
        '--port-quarantine-ms',
        '0',
        '--drain-seconds',
        '1',
      ],
      // No --ng-host: the contract's HOST_IP; the namespace from POD_NAMESPACE.
      {
        env: {
          ...process.env,
          HOST_IP: '127.0.0.1',
          POD_NAME: 'sbc1-media-n0',
          POD_NAMESPACE: ns,
          POD_UID: podUid,
        },
      },
    )
    await media.waitForOutput(/Media pod started/, 30_000)
    ng = await NgClient.connect({ host: '127.0.0.1', port: ngPort, retransmitMs: 200 })
    const lease1 = await eventually(async () => {
      const l = await appliedGeneration()
      assert.equal(l?.metadata?.annotations?.['sbc.kubesbc.io/applied-generation'], '1')
      return l
    })
    assert.equal(lease1?.spec.holderIdentity, 'sbc1-media-n0')
    assert.equal(lease1?.metadata?.labels?.['sbc.kubesbc.io/role'], 'media')
    assert.equal(lease1?.metadata?.ownerReferences?.[0]?.uid, podUid)

    // Two calls under generation 1: one in `mr`, one in `gone`.
    const call = async (id: string, r: string) => {
      const a = await Peer.open()
      const b = await Peer.open()
      const offer = await (ng as NgClient).offer({
        'call-id': id,
        'from-tag': 'a',
        sdp: audioSdp(a.port),
        direction: [r, r],
      })
      const answer = await (ng as NgClient).answer({
        'call-id': id,
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(b.port),
      })
      return { a, b, toB: endpointOf(offer.sdp).port, toA: endpointOf(answer.sdp).port }
    }
    const relays = async (c: Awaited<ReturnType<typeof call>>, seq: number) => {
      const before = c.b.received.length
      for (let i = 0; i < 3; i++) await c.a.send(rtpPacket(seq + i), c.toA)
      await c.b.waitFor(before + 3)
      assert.equal(c.b.received.at(-1)?.msg.subarray(12, 21).toString(), `payload-${seq + 2}`.slice(0, 9))
    }
    const old = await call('old', 'mr')
    assert.ok(old.toA >= base && old.toA <= base + 99, `generation 1 port ${old.toA}`)
    await relays(old, 0)
    const leaving = await call('leaving', 'gone')
    await relays(leaving, 0)

    // Generation 2: `mr` moves to a new range, `gone` is removed, `fresh` appears.
    await publish(2, [realm('mr', base + 200, base + 299), realm('fresh', base + 500, base + 599)])
    await eventually(async () => {
      const l = await appliedGeneration()
      assert.equal(l?.metadata?.annotations?.['sbc.kubesbc.io/applied-generation'], '2')
    })
    const moved = await call('new', 'mr')
    assert.ok(moved.toA >= base + 200 && moved.toA <= base + 299, `generation 2 port ${moved.toA}`)
    assert.ok(moved.toB >= base + 200 && moved.toB <= base + 299, `generation 2 port ${moved.toB}`)
    await relays(moved, 10)
    await relays(old, 20) // the generation-1 call keeps its ports and relays
    await assert.rejects(
      (ng as NgClient).offer({
        'call-id': 'refused',
        'from-tag': 'a',
        sdp: audioSdp(9),
        direction: ['gone', 'gone'],
      }),
      (e: unknown) => e instanceof NgRemoteError && /gone/.test(e.message),
    )
    await relays(leaving, 30) // running calls of a removed realm end on their own terms
    const fresh = await call('fresh', 'fresh')
    assert.ok(fresh.toA >= base + 500 && fresh.toA <= base + 599, `new realm port ${fresh.toA}`)
    await relays(fresh, 40)
    for (const id of ['old', 'leaving', 'new', 'fresh']) await (ng as NgClient).delete({ 'call-id': id })
    for (const c of [old, leaving, moved, fresh]) {
      c.a.close()
      c.b.close()
    }
  })
})
