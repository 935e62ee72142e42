import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import type { ControlPlane } from '../control-plane/control-plane.ts'
import { eventually } from '../control-plane/eventually.ts'
import { sharedControlPlane } from '../control-plane/shared-control-plane.ts'
import { type StartedProcess, startProcess } from '../harness/child-process.ts'
import { freePort } from '../harness/free-port.ts'
import { chartDir, type HelmResult, helmAsync, run } from './chart.ts'
import { repoRoot } from './helm-binary.ts'

/**
 * The real operator (`kube-sbc operator`), started on loopback exactly as the chart's Deployment
 * starts it (its args and env, read back from the API) but authenticated as the chart's
 * ServiceAccount: it must become ready, win the leader Lease, and reconcile examples/uclab into
 * workloads with nothing but the RBAC the chart grants.
 */

const suffix = () => randomBytes(3).toString('hex')

async function ok(p: Promise<HelmResult>, what: string): Promise<string> {
  const r = await p
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stderr}\n${r.stdout}`)
  return r.stdout
}

describe('the real operator with exactly the chart RBAC (apiserver mode)', function () {
  this.timeout(300_000)
  let cp: ControlPlane
  let operator: StartedProcess | undefined
  const releaseNs = `kube-sbc-op-${suffix()}`
  const sbcNs = `uclab-${suffix()}`
  const release = `op${suffix()}`
  const kubectl = (args: readonly string[], input?: string) =>
    run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { input })
  const getJson = async <T>(args: readonly string[]): Promise<T> =>
    JSON.parse(await ok(kubectl([...args, '-o', 'json']), `kubectl ${args.join(' ')}`)) as T

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    await ok(
      kubectl([
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=helm-chart-test',
        '-f',
        join(chartDir, 'crds'),
      ]),
      'apply CRDs',
    )
    const crds = readdirSync(join(chartDir, 'crds')).map((f) => `crd/${f.replace(/\.yaml$/, '')}`)
    await ok(kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds]), 'CRDs established')
    // No --wait: apiserver mode has no controllers, so the chart's own pods never exist here.
    await ok(
      helmAsync([
        'install',
        release,
        chartDir,
        '-n',
        releaseNs,
        '--create-namespace',
        '--kubeconfig',
        cp.kubeconfigPath,
      ]),
      'helm install',
    )
  })

  after(async () => {
    await operator?.stop()
    if (!cp) return
    await helmAsync([
      'uninstall',
      release,
      '-n',
      releaseNs,
      '--ignore-not-found',
      '--kubeconfig',
      cp.kubeconfigPath,
    ])
    await kubectl(['delete', 'namespace', releaseNs, sbcNs, '--wait=false', '--ignore-not-found'])
  })

  it('becomes ready and leader, and reconciles examples/uclab into workloads without a forbidden error', async () => {
    interface EnvVar {
      name: string
      value?: string
      valueFrom?: { fieldRef?: { fieldPath: string } }
    }
    const d = await getJson<{
      spec: {
        template: { spec: { serviceAccountName: string; containers: { args: string[]; env: EnvVar[] }[] } }
      }
    }>(['-n', releaseNs, 'get', 'deployment', `${release}-kube-sbc-operator`])
    const podSpec = d.spec.template.spec
    const c = podSpec.containers[0]
    assert.ok(c)
    const port = await freePort()
    const podName = `${release}-operator-test-0`
    const fields: Record<string, string> = {
      'metadata.name': podName,
      'metadata.namespace': releaseNs,
      'spec.nodeName': 'kwok-node-0',
      'status.podIP': '127.0.0.1',
    }
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' }
    for (const e of c.env) {
      const v = e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath ?? '']
      assert.ok(v !== undefined, `env ${e.name} has no value the test can supply`)
      env[e.name] = v
    }
    const args = c.args.map((a) => (a.startsWith('--http-port=') ? `--http-port=${port}` : a))
    assert.deepEqual(args.slice(0, 2), ['operator', '--leader-elect'])
    const sa = await cp.serviceAccountKubeConfig(releaseNs, podSpec.serviceAccountName)
    operator = startProcess(
      process.execPath,
      [join(repoRoot, 'cli', 'main.ts'), ...args, `--kubeconfig=${sa.path}`],
      {
        env,
      },
    )
    const op = operator

    await eventually(
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`)
        assert.equal(r.status, 200, `${await r.text()}\n${op.output().slice(-2000)}`)
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    )
    await eventually(
      async () => {
        const lease = await getJson<{ spec: { holderIdentity?: string } }>([
          '-n',
          releaseNs,
          'get',
          'lease',
          'kube-sbc-operator',
        ])
        assert.match(lease.spec.holderIdentity ?? '', new RegExp(`^${podName}_`))
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    )

    // examples/uclab, moved into a namespace of this test.
    await ok(kubectl(['create', 'namespace', sbcNs]), 'create SBC namespace')
    const docs: unknown[] = []
    const dir = join(repoRoot, 'examples', 'uclab')
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.yaml'))
      .sort())
      for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
        const o = doc.toJS() as { metadata?: { namespace?: string } } | null
        if (!o) continue
        if (o.metadata) delete o.metadata.namespace
        docs.push(o)
      }
    await ok(
      kubectl(['apply', '-n', sbcNs, '-f', '-'], docs.map((o) => stringify(o)).join('---\n')),
      'apply examples/uclab',
    )

    await eventually(
      async () => {
        for (const [kind, name] of [
          ['configmap', 'sbc1-config'],
          ['deployment', 'sbc1-signalling'],
          ['daemonset', 'sbc1-media'],
          ['serviceaccount', 'sbc1-pods'],
          ['role', 'sbc1-pods'],
          ['rolebinding', 'sbc1-pods'],
          ['secret', 'sbc1-redis-auth'],
        ] as const) {
          const r = await kubectl(['-n', sbcNs, 'get', kind, name, '-o', 'name'])
          assert.equal(
            r.status,
            0,
            `${kind}/${name} not created yet: ${r.stderr}\n${op.output().slice(-3000)}`,
          )
        }
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    )
    // The chart's default Redis reached the SBC: the password helm generated, mirrored into the
    // SBC's namespace, and the published snapshot points the pods at the bundled Redis with it.
    const source = await getJson<{ data: Record<string, string> }>([
      '-n',
      releaseNs,
      'get',
      'secret',
      `${release}-redis`,
    ])
    const mirror = await getJson<{ data: Record<string, string> }>([
      '-n',
      sbcNs,
      'get',
      'secret',
      'sbc1-redis-auth',
    ])
    assert.equal(mirror.data.password, source.data['redis-password'])
    const cm = await getJson<{ data: Record<string, string> }>([
      '-n',
      sbcNs,
      'get',
      'configmap',
      'sbc1-config',
    ])
    assert.deepEqual(JSON.parse(cm.data['config.json'] ?? '{}').redis, {
      mode: 'url',
      url: `redis://${release}-redis.${releaseNs}.svc:6379`,
      sentinel: null,
      password: { secret: 'sbc1-redis-auth', key: 'password' },
    })
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    assert.match(metrics, /^leader_election_master_status\{[^}]*\} 1$/m)
    assert.match(metrics, /^controller_runtime_reconcile_total\{/m)
    assert.doesNotMatch(op.output(), /forbidden/i, 'the chart RBAC covers everything the operator did')
  })
})
