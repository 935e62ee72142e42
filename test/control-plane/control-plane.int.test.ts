import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import type { KubernetesObject } from '@kubernetes/client-node'
import { applyObject, fieldManagers } from '../../lib/kube/apply.ts'
import { KubeApiError } from '../../lib/kube/errors.ts'
import { KubeClient } from '../../lib/kube/kube-client.ts'
import { binaries, type ControlPlane, startControlPlane, versions } from './control-plane.ts'
import { eventually } from './eventually.ts'
import { sharedControlPlane } from './shared-control-plane.ts'

const exec = promisify(execFile)

/** Asserts that `p` fails with HTTP `status` (and, if given, a message matching `message`). */
async function rejectsWith(p: Promise<unknown>, status: number, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KubeApiError, String(err))
    assert.equal(err.statusCode, status, err.message)
    if (message) assert.match(err.message, message)
    return true
  })
}

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.cp-test.kube-sbc.invalid' },
  spec: {
    group: 'cp-test.kube-sbc.invalid',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
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
              spec: {
                type: 'object',
                required: ['size'],
                properties: { size: { type: 'integer', minimum: 1 } },
              },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
}

describe('test control plane: apiserver mode', function () {
  this.timeout(180_000)
  let cp: ControlPlane

  before(async () => {
    cp = await sharedControlPlane('apiserver')
  })

  it(`serves /version ${versions.kubernetes}, also through the kubectl dispatcher`, async () => {
    const v = await cp.client.request<{ gitVersion: string; major: string; minor: string }>({
      method: 'GET',
      path: '/version',
    })
    assert.equal(v.gitVersion, versions.kubernetes)
    assert.match(v.gitVersion, /^v1\.33\./)
    assert.equal(v.major, '1')
    assert.equal(v.minor, '33')
    const { stdout } = await exec('kubectl', [
      '--kubeconfig',
      cp.kubeconfigPath,
      'get',
      'namespace',
      'default',
      '-o',
      'name',
    ])
    assert.equal(stdout.trim(), 'namespace/default')
  })

  it(`stores in the etcd ${versions.etcd} that build.sh built`, async () => {
    assert.equal(cp.etcdBinary, binaries.etcd)
    const res = await fetch(`${cp.etcdUrl}/version`)
    const v = (await res.json()) as { etcdserver: string }
    assert.equal(`v${v.etcdserver}`, versions.etcd)
  })

  it('installs a CRD with server-side apply and serves its kind with schema validation', async () => {
    const stored = await applyObject(cp.client, widgetCrd)
    assert.ok(fieldManagers(stored).some((m) => m.manager === 'kube-sbc-operator' && m.operation === 'Apply'))
    await eventually(async () => {
      const crd = await cp.client.get<{
        apiVersion: string
        kind: string
        status?: { conditions?: { type: string; status: string }[] }
      }>({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: widgetCrd.metadata.name,
      })
      assert.ok(crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
    })
    const ns = `cp-crd-${Date.now()}`
    await applyObject(cp.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    const w = await eventually(() =>
      applyObject(cp.client, {
        apiVersion: 'cp-test.kube-sbc.invalid/v1',
        kind: 'Widget',
        metadata: { name: 'w1', namespace: ns },
        spec: { size: 3 },
      } as never),
    )
    assert.equal((w as { spec: { size: number } }).spec.size, 3)
    const list = await cp.client.list({
      apiVersion: 'cp-test.kube-sbc.invalid/v1',
      kind: 'Widget',
      namespace: ns,
    })
    assert.deepEqual(
      list.items.map((i) => i.metadata?.name),
      ['w1'],
    )
    // the schema is enforced
    await rejectsWith(
      applyObject(cp.client, {
        apiVersion: 'cp-test.kube-sbc.invalid/v1',
        kind: 'Widget',
        metadata: { name: 'w2', namespace: ns },
        spec: { size: 0 },
      } as never),
      422,
    )
  })

  it('authenticates a ServiceAccount token and denies what RBAC does not grant', async () => {
    const ns = `cp-rbac-${Date.now()}`
    const sa = await cp.serviceAccountKubeConfig(ns, 'operator')
    const asSa = new KubeClient(sa.kubeConfig)
    const review = await asSa.request<{ status: { userInfo: { username: string; groups: string[] } } }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    })
    assert.equal(review.status.userInfo.username, `system:serviceaccount:${ns}:operator`)
    assert.ok(review.status.userInfo.groups.includes(`system:serviceaccounts:${ns}`))

    await rejectsWith(
      asSa.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }),
      403,
      /cannot list resource "configmaps"/,
    )

    await applyObject(cp.client, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'read-configmaps', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
    } as never)
    await applyObject(cp.client, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'operator-reads-configmaps', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
      subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: ns }],
    } as never)
    // the grant works (RBAC caches converge) ...
    await eventually(() => asSa.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }))
    // ... and only the grant: not other verbs, kinds or namespaces
    await rejectsWith(
      asSa.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: ns } }),
      403,
    )
    await rejectsWith(asSa.list({ apiVersion: 'v1', kind: 'Secret', namespace: ns }), 403)
    await rejectsWith(asSa.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }), 403)
  })
})

describe('test control plane: full mode (controller manager, scheduler, kwok)', function () {
  this.timeout(300_000)
  let cp: ControlPlane | undefined
  let pids: ReadonlyMap<string, number> = new Map()

  before(async () => {
    cp = await startControlPlane({
      mode: 'full',
      tokens: [{ user: 'alice', groups: ['example:viewers'] }],
      nodes: [
        { name: 'cp-sip-0', labels: { 'sbc.kube-sbc.invalid/pool': 'sip' } },
        { name: 'cp-rtp-0', labels: { 'sbc.kube-sbc.invalid/pool': 'rtp' } },
      ],
    })
    pids = cp.pids()
  })

  after(async () => {
    const dir = cp?.dir
    await cp?.stop()
    // stop() ended exactly what it started and cleaned up its temp dir
    assert.deepEqual([...pids.keys()].sort(), [
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
    ])
    for (const [name, pid] of pids) {
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `${name} (${pid}) still running`)
    }
    if (dir) assert.equal(existsSync(dir), false)
  })

  it('runs a Deployment as Running/Ready pods on the selected kwok node', async () => {
    const c = cp!.client
    await applyObject(c, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'sip', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'sip' } },
        template: {
          metadata: { labels: { app: 'sip' } },
          spec: {
            nodeSelector: { 'sbc.kube-sbc.invalid/pool': 'sip' },
            containers: [{ name: 'sip', image: 'example.invalid/sip:1' }],
          },
        },
      },
    } as never)
    await eventually(
      async () => {
        const d = await c.get<{ status?: { readyReplicas?: number } }>({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: 'default',
          name: 'sip',
        })
        assert.equal(d?.status?.readyReplicas, 2)
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    )
    const pods = await c.list<{
      apiVersion?: string
      kind?: string
      metadata?: { name?: string }
      spec?: { nodeName?: string }
      status?: { phase?: string; conditions?: { type: string; status: string }[] }
    }>({ apiVersion: 'v1', kind: 'Pod', namespace: 'default' }, { labelSelector: 'app=sip' })
    assert.equal(pods.items.length, 2)
    for (const p of pods.items) {
      assert.equal(p.spec?.nodeName, 'cp-sip-0')
      assert.equal(p.status?.phase, 'Running')
      assert.ok(p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
    }
  })

  it('garbage-collects a child when its owner is deleted', async () => {
    const c = cp!.client
    const owner = await c.create<KubernetesObject>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'owner', namespace: 'default' },
    })
    await c.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'child',
        namespace: 'default',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
      },
    })
    await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'owner' })
    await eventually(
      async () => {
        const child = await c.get({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: 'default',
          name: 'child',
        })
        assert.equal(child, undefined)
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    )
  })

  it('denies a static-token user what RBAC does not grant', async () => {
    const token = cp!.tokens.get('alice')
    assert.ok(token)
    const alice = new KubeClient((await cp!.kubeConfigForToken(token, 'alice')).kubeConfig)
    // authenticated (discovery works) but not authorised
    await alice.request({ method: 'GET', path: '/api/v1' })
    await rejectsWith(
      alice.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'default' }),
      403,
      /User "alice" cannot list resource "pods"/,
    )
    await rejectsWith(
      alice.list({ apiVersion: 'v1', kind: 'Node' }),
      403,
      /User "alice" cannot list resource "nodes"/,
    )
    // an unknown token is not a user at all
    const nobody = new KubeClient((await cp!.kubeConfigForToken('not-a-token', 'nobody')).kubeConfig)
    await rejectsWith(nobody.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'default' }), 401)
  })
})
