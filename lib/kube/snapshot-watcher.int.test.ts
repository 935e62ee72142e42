import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { compile } from '../config/compile/compile.ts'
import { base, sbc } from '../config/compile/fixtures.ts'
import type { SbcConfig } from '../config/model.ts'
import { AckLease } from './ack-lease.ts'
import { applyObject } from './apply.ts'
import { KubeClient } from './kube-client.ts'
import { podRoleRules } from './pod-role-rules.ts'
import { SnapshotWatcher } from './snapshot-watcher.ts'

describe('SnapshotWatcher and AckLease (real API server, pod RBAC)', function () {
  this.timeout(120_000)
  const ns = `pod-side-${randomBytes(3).toString('hex')}`
  let cp: ControlPlane
  let pod: KubeClient

  const publish = (generation: number, body = '') =>
    applyObject(cp.client, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'sbc1-config',
        namespace: ns,
        annotations: { 'sbc.kubesbc.io/generation': String(generation) },
      },
      data: {
        'config.json':
          body ||
          JSON.stringify({ ...compile([sbc('sbc1'), ...base()], { generation }).config, namespace: ns }),
      },
    } as KubernetesObject)

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
    pod = new KubeClient((await cp.serviceAccountKubeConfig(ns, 'sbc1-pods')).kubeConfig)
  })

  it('emits each new valid generation once, skips invalid ones, and acknowledges through a Lease', async () => {
    await publish(1)
    const seen: number[] = []
    const invalid: string[] = []
    const ack = new AckLease({
      client: pod,
      namespace: ns,
      podName: 'sbc1-signalling-abc',
      sbc: 'sbc1',
      role: 'signalling',
      renewIntervalMs: 200,
    })
    await ack.start()
    const watcher = new SnapshotWatcher({
      client: pod,
      namespace: ns,
      sbc: 'sbc1',
      onSnapshot: async (c: SbcConfig) => {
        seen.push(c.generation)
        await ack.acknowledge(c.generation)
      },
      onInvalid: (e) => invalid.push(e.message),
    })
    await watcher.start()
    try {
      await eventually(() => assert.deepEqual(seen, [1]))
      await publish(2, '{"schemaVersion":1}')
      await eventually(() => assert.equal(invalid.length, 1))
      await publish(3)
      await eventually(() => assert.deepEqual(seen, [1, 3]))
      await eventually(() => assert.equal(watcher.current?.generation, 3))
      const lease = await eventually(async () => {
        const l = await cp.client.get<
          KubernetesObject & { spec: { renewTime: string; holderIdentity: string } }
        >({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          namespace: ns,
          name: 'sbc1-signalling-abc',
        })
        assert.equal(l?.metadata?.annotations?.['sbc.kubesbc.io/applied-generation'], '3')
        return l
      })
      assert.equal(lease?.spec.holderIdentity, 'sbc1-signalling-abc')
      assert.equal(lease?.metadata?.labels?.['sbc.kubesbc.io/role'], 'signalling')
      const first = lease?.spec.renewTime
      await eventually(async () => {
        const l = await cp.client.get<{ spec: { renewTime: string } }>({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          namespace: ns,
          name: 'sbc1-signalling-abc',
        })
        assert.notEqual(l?.spec.renewTime, first)
      })
    } finally {
      await watcher.stop()
      await ack.stop()
    }
  })
})
