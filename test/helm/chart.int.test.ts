import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { ControlPlane } from '../control-plane/control-plane.ts'
import { eventually } from '../control-plane/eventually.ts'
import { sharedControlPlane } from '../control-plane/shared-control-plane.ts'
import {
  chartDir,
  fixturesDir,
  type HelmResult,
  helmAsync,
  type K8sObject,
  parseManifests,
  renderText,
  run,
} from './chart.ts'

/**
 * The chart against a real kube-apiserver (test/control-plane): every rendering is accepted by a
 * server-side dry run; in full mode (controller manager, scheduler, kwok) `helm install`,
 * `upgrade` and `uninstall` behave.
 */

const production = join(fixturesDir, 'values-production.yaml')
const chartCrds = readdirSync(join(chartDir, 'crds')).map((f) => f.replace(/\.ya?ml$/, ''))
const monitoringCrds = ['servicemonitors', 'podmonitors', 'prometheusrules'].map(
  (p) => `${p}.monitoring.coreos.com`,
)

function kubectl(cp: ControlPlane, args: readonly string[], input?: string): Promise<HelmResult> {
  return run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { input })
}

async function ok(p: Promise<HelmResult>, what: string): Promise<string> {
  const r = await p
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stderr}\n${r.stdout}`)
  return r.stdout
}

async function kubectlJson<T>(cp: ControlPlane, args: readonly string[]): Promise<T> {
  return JSON.parse(await ok(kubectl(cp, [...args, '-o', 'json']), `kubectl ${args.join(' ')}`)) as T
}

async function installCrds(cp: ControlPlane, files: string[]): Promise<void> {
  for (const f of files)
    await ok(
      kubectl(cp, [
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=helm-chart-test',
        '-f',
        f,
      ]),
      `apply ${f}`,
    )
}

async function waitEstablished(cp: ControlPlane, names: string[]): Promise<void> {
  await ok(
    kubectl(cp, ['wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)]),
    'wait for CRDs',
  )
}

const suffix = () => randomBytes(3).toString('hex')

describe('helm chart against the real kube-apiserver: server-side dry run of every rendering', function () {
  this.timeout(180_000)
  let cp: ControlPlane
  const ns = `helm-dry-${suffix()}`

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    await installCrds(cp, [join(chartDir, 'crds'), join(fixturesDir, 'monitoring-crd-stubs.yaml')])
    await waitEstablished(cp, [...chartCrds, ...monitoringCrds])
    await ok(kubectl(cp, ['create', 'namespace', ns]), 'create namespace')
  })

  after(async () => {
    if (cp) await kubectl(cp, ['delete', 'namespace', ns, '--wait=false'])
  })

  const cases: [string, string[], string[]][] = [
    ['default values', [], []],
    ['non-default values (Sentinel, monitoring, dashboard, 3 replicas, helm test Pod)', [production], []],
    [
      'bundled Redis with persistence and an existing Secret, one replica',
      [],
      ['replicaCount=1', 'redis.bundled.persistence.enabled=true', 'redis.bundled.auth.existingSecret=mine'],
    ],
    [
      'external Redis by URL, no metrics Service, no RBAC',
      [],
      [
        'redis.mode=external',
        'redis.external.url=redis://r.example.invalid:6379',
        'metricsService.enabled=false',
        'rbac.create=false',
      ],
    ],
  ]
  for (const [name, valuesFiles, set] of cases) {
    it(`accepts the rendering with ${name}`, async () => {
      const text = renderText({ release: `dry${suffix()}`, namespace: ns, valuesFiles, set })
      const objs = parseManifests(text)
      const out = await ok(
        kubectl(cp, ['apply', '--dry-run=server', '-o', 'name', '-f', '-'], text),
        'kubectl apply --dry-run=server',
      )
      const applied = out.trim().split('\n').filter(Boolean)
      assert.equal(applied.length, objs.length, out)
      // The `helm test` hook Pod is part of the production rendering and passes the server too.
      if (valuesFiles.includes(production))
        assert.ok(
          applied.some((a) => /^pod\/.*-test-sip-options/.test(a)),
          out,
        )
    })
  }

  it('the server rejects a rendering the schema would not stop (the dry run can fail)', async () => {
    // A template-level mistake the chart's schema cannot see, injected after rendering: a
    // Deployment whose selector does not match its pod labels.
    const objs = parseManifests(renderText({ release: `dry${suffix()}`, namespace: ns }))
    const d = objs.find((o) => o.kind === 'Deployment') as K8sObject
    d.spec.selector.matchLabels['app.kubernetes.io/component'] = 'something-else'
    const r = await kubectl(cp, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(d))
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /selector.*does not match template labels|`selector` does not match/)
  })
})

describe('helm chart in the full test control plane: install, upgrade, uninstall', function () {
  this.timeout(600_000)
  let cp: ControlPlane
  const ns = `kube-sbc-${suffix()}`
  const release = `sbc${suffix()}`
  const kc = () => ['--kubeconfig', cp.kubeconfigPath]

  interface Deployment {
    metadata: { generation: number }
    spec: { replicas: number }
    status: {
      observedGeneration?: number
      readyReplicas?: number
      updatedReplicas?: number
      replicas?: number
    }
  }
  interface Named {
    items: {
      metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }
      status?: Record<string, unknown>
      spec?: Record<string, unknown>
    }[]
  }
  const deploymentName = `${release}-kube-sbc-operator`

  async function rolledOut(replicas: number): Promise<Deployment> {
    return eventually(
      async () => {
        const d = await kubectlJson<Deployment>(cp, ['-n', ns, 'get', 'deployment', deploymentName])
        assert.equal(d.status.observedGeneration, d.metadata.generation)
        assert.equal(d.status.updatedReplicas, replicas)
        assert.equal(d.status.readyReplicas, replicas)
        assert.equal(d.status.replicas, replicas, 'old pods are gone')
        return d
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    )
  }

  async function redisPassword(): Promise<string> {
    const s = await kubectlJson<{ data: Record<string, string> }>(cp, [
      '-n',
      ns,
      'get',
      'secret',
      `${release}-redis`,
    ])
    return s.data['redis-password'] ?? ''
  }

  before(async () => {
    cp = await sharedControlPlane('full')
  })

  after(async () => {
    if (!cp) return
    await helmAsync(['uninstall', release, '-n', ns, '--ignore-not-found', ...kc()])
    await kubectl(cp, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found'])
  })

  it('helm install succeeds, prints the NOTES, serves the CRDs and runs the operator pods Ready on kwok nodes', async () => {
    const out = await ok(
      helmAsync([
        'install',
        release,
        chartDir,
        '-n',
        ns,
        '--create-namespace',
        '--wait',
        '--timeout',
        '5m',
        ...kc(),
      ]),
      'helm install',
    )
    assert.match(out, /STATUS: deployed/)
    assert.match(out, /pod-security\.kubernetes\.io\/enforce=privileged/)
    assert.match(out, /kubectl apply -f examples\/uclab\//)
    assert.match(out, /kubectl label namespace uclab pod-security\.kubernetes\.io\/enforce=privileged/)
    assert.match(out, new RegExp(`password in Secret ${ns}/${release}-redis \\(key redis-password\\)`))
    assert.match(out, /as Secret <sbc>-redis-auth/)
    assert.match(out, /type=="RedisConfigured"/)
    assert.match(out, new RegExp(`redis://${release}-redis\\.${ns}\\.svc:6379`))
    await waitEstablished(cp, chartCrds)
    // Served: the API answers list requests for every kind.
    for (const crd of chartCrds) {
      const list = await kubectlJson<Named>(cp, ['get', crd.split('.')[0] as string, '-A'])
      assert.ok(Array.isArray(list.items), crd)
    }
    // The "sbc" category lists every kube-sbc kind.
    await ok(kubectl(cp, ['get', 'sbc', '-A']), 'kubectl get sbc -A')
    await rolledOut(2)
    const pods = await kubectlJson<Named>(cp, [
      '-n',
      ns,
      'get',
      'pods',
      '-l',
      `app.kubernetes.io/instance=${release},app.kubernetes.io/component=operator`,
    ])
    assert.equal(pods.items.length, 2)
    for (const p of pods.items) {
      assert.ok(String(p.spec?.nodeName).startsWith('kwok-'), `${p.metadata.name} on ${p.spec?.nodeName}`)
      const conds = (p.status?.conditions ?? []) as { type: string; status: string }[]
      assert.ok(
        conds.some((c) => c.type === 'Ready' && c.status === 'True'),
        `${p.metadata.name} Ready`,
      )
    }
    const sts = await kubectlJson<{ status: { readyReplicas?: number } }>(cp, [
      '-n',
      ns,
      'get',
      'statefulset',
      `${release}-redis`,
    ])
    assert.equal(sts.status.readyReplicas, 1)
    assert.match(Buffer.from(await redisPassword(), 'base64').toString(), /^[A-Za-z0-9]{32}$/)
  })

  it('helm upgrade with changed values rolls the operator (new ReplicaSet) and keeps the Redis password', async () => {
    const password = await redisPassword()
    const rsBefore = await kubectlJson<Named>(cp, [
      '-n',
      ns,
      'get',
      'replicasets',
      '-l',
      `app.kubernetes.io/instance=${release},app.kubernetes.io/component=operator`,
    ])
    assert.equal(rsBefore.items.length, 1)
    await ok(
      helmAsync([
        'upgrade',
        release,
        chartDir,
        '-n',
        ns,
        '--set',
        'operator.logLevel=debug',
        '--set',
        'replicaCount=3',
        '--wait',
        '--timeout',
        '5m',
        ...kc(),
      ]),
      'helm upgrade',
    )
    await rolledOut(3)
    const rsAfter = await kubectlJson<Named>(cp, [
      '-n',
      ns,
      'get',
      'replicasets',
      '-l',
      `app.kubernetes.io/instance=${release},app.kubernetes.io/component=operator`,
    ])
    assert.equal(rsAfter.items.length, 2, 'a new ReplicaSet next to the old one')
    const fresh = rsAfter.items.find((r) => r.metadata.name !== rsBefore.items[0]?.metadata.name)
    assert.ok(fresh)
    assert.equal((fresh.status as { readyReplicas?: number }).readyReplicas, 3)
    const old = rsAfter.items.find((r) => r.metadata.name === rsBefore.items[0]?.metadata.name)
    assert.ok(old)
    assert.equal((old.spec as { replicas?: number }).replicas, 0, 'the old ReplicaSet is scaled to zero')
    const d = await kubectlJson<{ spec: { template: { spec: { containers: { args: string[] }[] } } } }>(cp, [
      '-n',
      ns,
      'get',
      'deployment',
      deploymentName,
    ])
    assert.ok(d.spec.template.spec.containers[0]?.args.includes('--log-level=debug'))
    assert.equal(await redisPassword(), password, 'lookup keeps the generated password across upgrades')
  })

  it('helm uninstall leaves nothing with the release labels behind, only the CRDs', async () => {
    const types = (
      await ok(kubectl(cp, ['api-resources', '--verbs=list,delete', '-o', 'name']), 'api-resources')
    )
      .trim()
      .split('\n')
      .filter((t) => t && !t.startsWith('events'))
    const releaseObjects = async (): Promise<string[]> =>
      (
        await ok(
          kubectl(cp, [
            'get',
            types.join(','),
            '-A',
            '-l',
            `app.kubernetes.io/instance=${release}`,
            '-o',
            'name',
            '--ignore-not-found',
          ]),
          'list release objects',
        )
      )
        .trim()
        .split('\n')
        .filter(Boolean)
    // The same query finds the release's objects while it is installed (so an empty answer later means something).
    const before = await releaseObjects()
    for (const o of [
      `deployment.apps/${deploymentName}`,
      `statefulset.apps/${release}-redis`,
      `clusterrole.rbac.authorization.k8s.io/${release}-kube-sbc-operator`,
      `secret/${release}-redis`,
    ])
      assert.ok(before.includes(o), `${o} not in:\n${before.join('\n')}`)
    assert.ok(before.some((o) => o.startsWith('pod/')))
    await ok(
      helmAsync(['uninstall', release, '-n', ns, '--wait', '--timeout', '3m', ...kc()]),
      'helm uninstall',
    )
    await eventually(
      async () => {
        const left = await releaseObjects()
        assert.deepEqual(left, [], `left behind:\n${left.join('\n')}`)
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    )
    const helmRecords = await kubectlJson<Named>(cp, [
      '-n',
      ns,
      'get',
      'secrets',
      '-l',
      `owner=helm,name=${release}`,
    ])
    assert.deepEqual(helmRecords.items, [])
    // Unlabelled leftovers too: the release namespace holds only what Kubernetes puts in every
    // namespace (a PVC, a ReplicaSet or a Pod without the release label would show up here).
    const namespaced = (
      await ok(
        kubectl(cp, ['api-resources', '--namespaced=true', '--verbs=list,delete', '-o', 'name']),
        'api-resources',
      )
    )
      .trim()
      .split('\n')
      .filter((t) => t && !t.startsWith('events'))
    await eventually(
      async () => {
        const all = (
          await ok(
            kubectl(cp, ['-n', ns, 'get', namespaced.join(','), '-o', 'name', '--ignore-not-found']),
            'list the release namespace',
          )
        )
          .trim()
          .split('\n')
          .filter(Boolean)
        const builtin = new Set(['configmap/kube-root-ca.crt', 'serviceaccount/default'])
        assert.deepEqual(
          all.filter((o) => !builtin.has(o)),
          [],
        )
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    )
    const rbac = await kubectl(cp, ['get', 'clusterrole', `${release}-kube-sbc-operator`])
    assert.notEqual(rbac.status, 0, 'cluster-scoped RBAC is removed')
    // Helm documents that CRDs in crds/ are never deleted.
    for (const crd of chartCrds) await ok(kubectl(cp, ['get', 'crd', crd]), `CRD ${crd} kept`)
  })
})
