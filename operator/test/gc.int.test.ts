import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { KubernetesObject } from '@kubernetes/client-node'
import { applyObject } from '../../lib/kube/apply.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { K } from '../src/kinds.ts'
import { Operator } from '../src/manager.ts'
import { installCrds, uclabIn } from './fixtures.ts'

describe('operator garbage collection (full mode: kube-controller-manager)', function () {
  this.timeout(240_000)
  const ns = `gc-${randomBytes(3).toString('hex')}`
  let cp: ControlPlane
  let operator: Operator | undefined

  before(async () => {
    cp = await sharedControlPlane('full')
    await installCrds(cp.client)
    await applyObject(cp.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    operator = new Operator({
      kubeConfig: cp.kubeConfig,
      namespace: ns,
      leaderElect: false,
      image: 'example.test/kube-sbc:test',
      throttleMs: 50,
      registry: createMetricsRegistry(),
    })
    await operator.start()
  })
  after(async () => operator?.stop())

  it('deleting the SessionBorderController collects its ConfigMap, workloads, Services and RBAC', async () => {
    for (const o of uclabIn(ns))
      await applyObject(cp.client, o as KubernetesObject, { fieldManager: 'kubectl' })
    const owned: [keyof typeof K, string][] = [
      ['ConfigMap', 'sbc1-config'],
      ['Deployment', 'sbc1-signalling'],
      ['DaemonSet', 'sbc1-media'],
      ['Service', 'sbc1-si-trunk'],
      ['PodDisruptionBudget', 'sbc1-signalling'],
      ['Role', 'sbc1-pods'],
      ['NetworkPolicy', 'sbc1-media-control'],
    ]
    const exists = async () =>
      Promise.all(
        owned.map(async ([k, name]) => (await cp.client.get({ ...K[k], namespace: ns, name })) !== undefined),
      )
    await eventually(async () =>
      assert.deepEqual(
        await exists(),
        owned.map(() => true),
      ),
    )
    await operator?.stop()
    operator = undefined
    await cp.client.delete({ ...K.SessionBorderController, namespace: ns, name: 'sbc1' })
    await eventually(
      async () =>
        assert.deepEqual(
          await exists(),
          owned.map(() => false),
        ),
      { timeoutMs: 120_000 },
    )
  })
})
