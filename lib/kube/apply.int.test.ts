import assert from 'node:assert/strict'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { applyObject, applyStatus, FIELD_MANAGER, fieldManagers, patchStatus } from './apply.ts'
import { KubeApiError } from './errors.ts'

interface ConfigMap {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace: string; labels?: Record<string, string> }
  data?: Record<string, string>
}

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gadgets.kube-test.kube-sbc.invalid' },
  spec: {
    group: 'kube-test.kube-sbc.invalid',
    scope: 'Namespaced',
    names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
}

describe('server-side apply (real API server)', function () {
  this.timeout(180_000)
  let cp: ControlPlane
  const ns = `apply-${Date.now()}`

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    await applyObject(cp.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  })

  it('applies with the fixed field manager, visible in managedFields, and removes fields it stops sending', async () => {
    const cm: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: ns, labels: { a: '1' } },
      data: { one: '1', two: '2' },
    }
    const first = await applyObject(cp.client, cm)
    const managers = fieldManagers(first)
    assert.deepEqual(
      managers.filter((m) => m.manager === FIELD_MANAGER),
      [{ manager: FIELD_MANAGER, operation: 'Apply' }],
    )
    const second = await applyObject(cp.client, { ...cm, data: { one: '1' } })
    assert.deepEqual(second.data, { one: '1' }, 'a field we no longer apply is removed')
  })

  it('forces ownership over a field another manager set, and reports the conflict without force', async () => {
    const base: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'shared', namespace: ns },
    }
    await applyObject(cp.client, { ...base, data: { owner: 'human' } }, { fieldManager: 'kubectl-edit' })
    await assert.rejects(
      applyObject(cp.client, { ...base, data: { owner: 'operator' } }, { force: false }),
      (err: unknown) => err instanceof KubeApiError && err.statusCode === 409,
    )
    const forced = await applyObject(cp.client, { ...base, data: { owner: 'operator' } })
    assert.equal(forced.data?.owner, 'operator')
    const stored = await cp.client.get<ConfigMap & { metadata: { managedFields?: unknown[] } }>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns,
      name: 'shared',
    })
    const owners = fieldManagers(stored as never)
    assert.ok(owners.some((m) => m.manager === FIELD_MANAGER))
    assert.ok(!owners.some((m) => m.manager === 'kubectl-edit'), 'the other manager lost its only field')
  })

  it('applies and merge-patches status through the status subresource', async () => {
    await applyObject(cp.client, crd)
    const ref = { apiVersion: 'kube-test.kube-sbc.invalid/v1', kind: 'Gadget', namespace: ns, name: 'g1' }
    const gadget = (x: number) =>
      ({
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        metadata: { name: 'g1', namespace: ns },
        spec: { x },
      }) as never
    // the new kind is served once the CRD is established
    await eventually(() => applyObject(cp.client, gadget(1)))
    const status = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }] }
    const withStatus = await applyStatus<{ status?: unknown; spec?: unknown }>(cp.client, ref, status)
    assert.deepEqual(withStatus.status, status)
    assert.deepEqual(withStatus.spec, { x: 1 }, 'status apply leaves the spec alone')
    const owners = fieldManagers(withStatus as never)
    assert.ok(owners.some((m) => m.manager === FIELD_MANAGER && m.subresource === 'status'))

    const patched = await patchStatus<{ status?: { ackGeneration?: number } }>(
      cp.client,
      ref,
      { ackGeneration: 7 },
      { fieldManager: 'signalling-pod' },
    )
    assert.equal(patched.status?.ackGeneration, 7)
    // the main resource ignores status: a spec apply does not wipe it
    const again = await applyObject<{ apiVersion: string; kind: string; metadata: object; status?: unknown }>(
      cp.client,
      gadget(2),
    )
    assert.deepEqual((again.status as { ackGeneration?: number }).ackGeneration, 7)
  })
})
