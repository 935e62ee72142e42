import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { KubernetesObject } from '@kubernetes/client-node'
import { API_VERSION } from '../../lib/api/v1alpha1/group.ts'
import { applyObject, fieldManagers } from '../../lib/kube/apply.ts'
import type { Condition } from '../../lib/kube/conditions.ts'
import { KubeApiError } from '../../lib/kube/errors.ts'
import type { KubeClient } from '../../lib/kube/kube-client.ts'
import { microTime } from '../../lib/kube/leader-election.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { K } from '../src/kinds.ts'
import { LEADER_LEASE, Operator } from '../src/manager.ts'
import { ANNOTATION_APPLIED_GENERATION, ANNOTATION_GENERATION } from '../src/names.ts'
import { applyChartRbac, installCrds, uclabIn } from './fixtures.ts'

// biome-ignore lint/suspicious/noExplicitAny: assertions read deep into API objects
type Any = any
type WithStatus = KubernetesObject & { status?: { conditions?: Condition[]; [k: string]: unknown } }

const suffix = randomBytes(3).toString('hex')
const opNs = `kube-sbc-op-${suffix}`
const ns = `uclab-${suffix}`
const release = `op${suffix}`
const repo = join(import.meta.dirname, '..', '..')

describe('operator (real API server, chart RBAC)', function () {
  this.timeout(180_000)
  let cp: ControlPlane
  let sa: { kubeConfig: import('@kubernetes/client-node').KubeConfig; path: string }
  let operator: Operator | undefined
  let admin: KubeClient

  const cond = async (kind: keyof typeof K, name: string, type: string) =>
    (await admin.get<WithStatus>({ ...K[kind], namespace: ns, name }))?.status?.conditions?.find(
      (c) => c.type === type,
    )

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    admin = cp.client
    await installCrds(admin)
    for (const n of [opNs, ns])
      await applyObject(admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } })
    const saName = await applyChartRbac(admin, release, opNs)
    sa = await cp.serviceAccountKubeConfig(opNs, saName)
  })

  after(async () => {
    await operator?.stop()
  })

  describe('CRD validation (schema and CEL) on the server', () => {
    const realm = { network: 'WAN', portRange: { min: 20000, max: 20399 } }
    const tlsIface = {
      network: 'WAN',
      listeners: [{ transport: 'TLS', port: 5062 }],
      tls: { secretRef: { name: 'sbc-tls' } },
      mediaRealmRef: { name: 'mr' },
    }
    const group = { sipInterfaceRef: { name: 'a' }, ipProfileRef: { name: 'b' } }
    // The CEL cases of lib/api/v1alpha1/validate-spec.test.ts, plus schema ones; `expect` is
    // what the user sees from kubectl (field path and message).
    const cases: { kind: string; spec: unknown; expect: RegExp }[] = [
      {
        kind: 'MediaRealm',
        spec: { ...realm, portRange: { min: 7000, max: 6000 } },
        expect: /spec\.portRange: Invalid value: "object": min must not exceed max/,
      },
      {
        kind: 'MediaRealm',
        spec: { ...realm, network: 'DMZ' },
        expect: /spec\.network: Unsupported value: "DMZ"/,
      },
      { kind: 'MediaRealm', spec: { ...realm, bindAddress: '10.0.40' }, expect: /spec\.bindAddress/ },
      {
        kind: 'SipInterface',
        spec: { ...tlsIface, tls: undefined },
        expect:
          /spec\.tls.*a TLS listener needs tls\.secretRef|spec: Invalid value: "object": a TLS listener needs tls\.secretRef/,
      },
      {
        kind: 'SipInterface',
        spec: { ...tlsIface, tls: { secretRef: { name: 's' }, mutualAuth: true } },
        expect: /spec\.tls: Invalid value: "object": mutual authentication needs clientCASecretRef/,
      },
      {
        kind: 'SipInterface',
        spec: {
          ...tlsIface,
          listeners: [
            { transport: 'TLS', port: 5061 },
            { transport: 'TCP', port: 5061 },
          ],
        },
        expect: /spec\.listeners: Invalid value: "array": listener ports must be unique per protocol/,
      },
      {
        kind: 'SipInterface',
        spec: { ...tlsIface, listeners: [{ transport: 'TLS', port: 70000 }] },
        expect: /spec\.listeners\[0\]\.port: Invalid value: 70000/,
      },
      {
        kind: 'RoutingRule',
        spec: { order: 1, action: { reply: { code: 200 }, route: { targets: [{ ipGroup: 'a' }] } } },
        expect: /spec\.action: Invalid value: "object": exactly one of route or reply is required/,
      },
      {
        kind: 'RoutingRule',
        spec: { order: 1, action: {} },
        expect: /spec\.action: Invalid value: "object": exactly one of route or reply is required/,
      },
      {
        kind: 'RoutingRule',
        spec: {
          order: 1,
          match: { destinationNumber: { prefix: '+49', regex: '.*' } },
          action: { reply: { code: 404 } },
        },
        expect:
          /spec\.match\.destinationNumber: Invalid value: "object": exactly one of prefix, exact or regex is required/,
      },
      {
        kind: 'IPGroup',
        spec: {
          ...group,
          proxySet: { proxies: [{ address: 'pbx.example.com', resolution: 'Static', transport: 'UDP' }] },
        },
        expect:
          /spec\.proxySet\.proxies\[0\]: Invalid value: "object": resolution Static needs an IP address/,
      },
      {
        kind: 'IPGroup',
        spec: {
          ...group,
          proxySet: {
            proxies: [{ address: 'sip.example.com', port: 5061, resolution: 'SRV', transport: 'TLS' }],
          },
        },
        expect:
          /spec\.proxySet\.proxies\[0\]: Invalid value: "object": a port must not be given with SRV resolution/,
      },
      {
        kind: 'IPGroup',
        spec: {
          ...group,
          proxySet: { proxies: [{ address: '10.0.0.1', transport: 'UDP' }] },
          manipulations: [{ name: 'x', header: 'X-Foo', action: 'Remove', value: 'y' }],
        },
        expect:
          /spec\.manipulations\[0\]: Invalid value: "object": value is required for every action except Remove, and forbidden for Remove/,
      },
      {
        kind: 'IPGroup',
        spec: {
          ...group,
          proxySet: { proxies: [{ address: '10.0.0.1', transport: 'UDP' }] },
          classification: { rules: [{ name: 'r', sourceCIDRs: ['10.0.0.0/33'] }] },
        },
        expect:
          /spec\.classification\.rules\[0\]\.sourceCIDRs\[0\]: Invalid value: "string": must be an IP prefix in CIDR notation/,
      },
      {
        kind: 'IPProfile',
        spec: {
          media: {
            codecs: [
              { name: 'opus', payloadType: 111 },
              { name: 'G722', payloadType: 111 },
            ],
          },
        },
        expect: /spec\.media\.codecs: Invalid value: "array": payload types must be unique/,
      },
      {
        kind: 'IPProfile',
        spec: { sessionTimer: { enabled: true, sessionExpiresSeconds: 100, minSESeconds: 200 } },
        expect:
          /spec\.sessionTimer: Invalid value: "object": minSESeconds must not exceed sessionExpiresSeconds/,
      },
      {
        kind: 'SessionBorderController',
        spec: { redis: { url: 'redis://r:6379', sentinel: { masterName: 'm', addresses: ['s:26379'] } } },
        expect: /spec\.redis: Invalid value: "object": url and sentinel are mutually exclusive/,
      },
      {
        kind: 'SessionBorderController',
        spec: { signalling: { resources: { limits: { cpu: 'lots' } } } },
        expect: /spec\.signalling\.resources\.limits\.cpu/,
      },
    ]
    it(`rejects ${cases.length} invalid objects with the field and rule message, and accepts valid ones`, async () => {
      const failures: string[] = []
      for (const [i, c] of cases.entries()) {
        const obj = {
          apiVersion: API_VERSION,
          kind: c.kind,
          metadata: { name: `bad-${i}`, namespace: ns },
          spec: c.spec,
        }
        try {
          await applyObject(admin, obj as KubernetesObject, { dryRun: true, fieldManager: 'kube-sbc-test' })
          failures.push(`${c.kind} case ${i} was accepted`)
        } catch (err) {
          assert.ok(err instanceof KubeApiError, String(err))
          if (err.statusCode !== 422 || !c.expect.test(err.message))
            failures.push(`case ${i}: ${err.message}`)
        }
      }
      const ok = {
        apiVersion: API_VERSION,
        kind: 'MediaRealm',
        metadata: { name: 'ok', namespace: ns },
        spec: realm,
      }
      await applyObject(admin, ok as KubernetesObject, { dryRun: true, fieldManager: 'kube-sbc-test' })
      assert.deepEqual(failures, [])
    })
  })

  describe('the operator as its ServiceAccount', () => {
    before(async () => {
      operator = new Operator({
        kubeConfig: sa.kubeConfig,
        namespace: opNs,
        leaderElect: false,
        image: 'example.test/kube-sbc:test',
        throttleMs: 50,
        registry: createMetricsRegistry(),
      })
      await operator.start()
      for (const o of uclabIn(ns)) await applyObject(admin, o, { fieldManager: 'kubectl' })
    })

    it('examples/uclab: publishes the ConfigMap and writes Accepted/ResolvedRefs on every object', async () => {
      const cm = await eventually(async () => {
        const got = await admin.get<Any>({ ...K.ConfigMap, namespace: ns, name: 'sbc1-config' })
        // The objects are applied one by one, so the first generations may hold a part of them.
        assert.equal(JSON.parse(got?.data['config.json']).interfaces.length, 3)
        return got
      })
      const generation = Number(cm.metadata.annotations[ANNOTATION_GENERATION])
      assert.ok(generation >= 1)
      assert.equal(JSON.parse(cm.data['config.json']).generation, generation)
      assert.equal(cm.metadata.ownerReferences[0].kind, 'SessionBorderController')
      assert.ok(fieldManagers(cm).some((m) => m.manager === 'kube-sbc-operator'))
      await eventually(async () => {
        for (const kind of [
          'MediaRealm',
          'SipInterface',
          'IPProfile',
          'IPGroup',
          'RoutingRule',
          'SessionBorderController',
        ] as const) {
          for (const o of (await admin.list<WithStatus>({ ...K[kind], namespace: ns })).items) {
            const c = o.status?.conditions ?? []
            assert.equal(c.find((x) => x.type === 'Accepted')?.status, 'True', `${kind} ${o.metadata?.name}`)
            assert.equal(
              c.find((x) => x.type === 'ResolvedRefs')?.status,
              'True',
              `${kind} ${o.metadata?.name}`,
            )
            assert.equal(c.find((x) => x.type === 'Programmed')?.status, 'False')
            assert.equal(o.status?.observedGeneration, o.metadata?.generation)
          }
        }
      })
      const sbc = await admin.get<WithStatus>({ ...K.SessionBorderController, namespace: ns, name: 'sbc1' })
      assert.equal(sbc?.status?.configGeneration, generation)
    })

    it('creates the workloads with owner references and field manager kube-sbc-operator', async () => {
      const expected: [keyof typeof K, string][] = [
        ['Deployment', 'sbc1-signalling'],
        ['DaemonSet', 'sbc1-media'],
        ['Service', 'sbc1-si-webex'],
        ['Service', 'sbc1-si-trunk'],
        ['Service', 'sbc1-si-twilio'],
        ['PodDisruptionBudget', 'sbc1-signalling'],
        ['ServiceAccount', 'sbc1-pods'],
        ['Role', 'sbc1-pods'],
        ['RoleBinding', 'sbc1-pods'],
        ['NetworkPolicy', 'sbc1-media-control'],
      ]
      const sbc = await admin.get<Any>({ ...K.SessionBorderController, namespace: ns, name: 'sbc1' })
      await eventually(async () => {
        for (const [kind, name] of expected) {
          const o = await admin.get<Any>({ ...K[kind], namespace: ns, name })
          assert.ok(o, `${kind} ${name} missing`)
          assert.deepEqual(
            o.metadata.ownerReferences.map((r: Any) => [r.kind, r.name, r.uid, r.controller]),
            [['SessionBorderController', 'sbc1', sbc.metadata.uid, true]],
          )
          assert.ok(
            fieldManagers(o).some((m) => m.manager === 'kube-sbc-operator' && m.operation === 'Apply'),
          )
          assert.equal(o.metadata.labels['app.kubernetes.io/managed-by'], 'kube-sbc-operator')
        }
      })
      const dep = await admin.get<Any>({ ...K.Deployment, namespace: ns, name: 'sbc1-signalling' })
      assert.equal(dep.spec.template.spec.containers[0].image, 'example.test/kube-sbc:test')
      const ds = await admin.get<Any>({ ...K.DaemonSet, namespace: ns, name: 'sbc1-media' })
      assert.equal(ds.spec.template.spec.hostNetwork, true)
    })

    it('a no-op resync writes nothing (ConfigMap generation and resourceVersions stay)', async () => {
      const rv = async (kind: keyof typeof K, name: string) =>
        (await admin.get<Any>({ ...K[kind], namespace: ns, name }))?.metadata.resourceVersion
      const names: [keyof typeof K, string][] = [
        ['ConfigMap', 'sbc1-config'],
        ['SessionBorderController', 'sbc1'],
        ['RoutingRule', 'webex-to-twilio'],
        ['Deployment', 'sbc1-signalling'],
        ['Service', 'sbc1-si-trunk'],
      ]
      await sleep(500)
      const before = await Promise.all(names.map(([k, n]) => rv(k, n)))
      for (const kind of [K.SessionBorderController, K.RoutingRule, K.Service])
        operator?.store.cache(kind).resync()
      await sleep(1500)
      assert.deepEqual(await Promise.all(names.map(([k, n]) => rv(k, n))), before)
    })

    it('ResolvedRefs=False names a missing IPGroup and turns True when it appears', async () => {
      const twilio = uclabIn(ns).find((o) => o.kind === 'IPGroup' && o.metadata?.name === 'twilio')
      assert.ok(twilio)
      await admin.delete({ ...K.IPGroup, namespace: ns, name: 'twilio' })
      await eventually(async () => {
        const c = await cond('RoutingRule', 'webex-to-twilio', 'ResolvedRefs')
        assert.equal(c?.status, 'False')
        assert.match(c?.message ?? '', /twilio/)
      })
      const events = await admin.request<Any>({
        method: 'GET',
        path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
      })
      assert.ok(events.items.some((e: Any) => e.type === 'Warning' && /twilio/.test(e.note)))
      await applyObject(admin, twilio, { fieldManager: 'kubectl' })
      await eventually(async () =>
        assert.equal((await cond('RoutingRule', 'webex-to-twilio', 'ResolvedRefs'))?.status, 'True'),
      )
    })

    it('Programmed turns True when an ack Lease reports the published generation', async () => {
      const gen = await eventually(async () => {
        const sbc = await admin.get<WithStatus>({ ...K.SessionBorderController, namespace: ns, name: 'sbc1' })
        const cm = await admin.get<Any>({ ...K.ConfigMap, namespace: ns, name: 'sbc1-config' })
        assert.equal(String(sbc?.status?.configGeneration), cm.metadata.annotations[ANNOTATION_GENERATION])
        return Number(sbc?.status?.configGeneration)
      })
      await admin.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: 'sbc1-signalling-test-pod',
          namespace: ns,
          labels: {
            'app.kubernetes.io/part-of': 'kube-sbc',
            'sbc.kubesbc.io/sbc': 'sbc1',
            'sbc.kubesbc.io/role': 'signalling',
          },
          annotations: { [ANNOTATION_APPLIED_GENERATION]: String(gen) },
        },
        spec: {
          holderIdentity: 'sbc1-signalling-test-pod',
          leaseDurationSeconds: 30,
          renewTime: microTime(Date.now()),
        },
      } as KubernetesObject)
      await eventually(async () => {
        assert.equal((await cond('RoutingRule', 'webex-to-twilio', 'Programmed'))?.status, 'True')
        assert.equal((await cond('SessionBorderController', 'sbc1', 'Ready'))?.status, 'True')
      })
      const sbc = await admin.get<WithStatus>({ ...K.SessionBorderController, namespace: ns, name: 'sbc1' })
      assert.equal(sbc?.status?.acknowledgedGeneration, gen)
    })

    after(async () => {
      await operator?.stop()
      operator = undefined
    })
  })

  describe('two operator processes', () => {
    const children: ChildProcess[] = []
    after(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    })

    const start = () => {
      const child = spawn(
        join(repo, 'bin', 'kube-sbc'),
        [
          'operator',
          '--leader-elect',
          '--http-port=0',
          `--kubeconfig=${sa.path}`,
          `--namespace=${opNs}`,
          '--leader-elect-lease-duration=4',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let out = ''
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d
      })
      child.stderr?.resume()
      children.push(child)
      return { child, output: () => out }
    }
    const holder = async () =>
      (await admin.get<Any>({ ...K.Lease, namespace: opNs, name: LEADER_LEASE }))?.spec?.holderIdentity ?? ''

    it('one leads; killing it hands over within the lease duration', async () => {
      const a = start()
      const b = start()
      const leader = await eventually(async () => {
        const h = await holder()
        assert.match(h, /_\d+$/)
        return h
      })
      const pids = [a.child.pid, b.child.pid]
      const leaderPid = Number(leader.split('_').pop())
      assert.ok(pids.includes(leaderPid), `${leader} is not one of ${pids}`)
      const standby = leaderPid === a.child.pid ? b : a
      // The standby is ready too (caches synced), and reports itself as backup.
      const port = await eventually(() => {
        const line = standby
          .output()
          .split('\n')
          .find((l) => l.includes('operator listening'))
        assert.ok(line)
        return JSON.parse(line).port as number
      })
      await eventually(async () => assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200))
      assert.match(
        await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
        /leader_election_master_status\{name="kube-sbc-operator",component="operator"\} 0/,
      )
      const leaderChild = leaderPid === a.child.pid ? a.child : b.child
      const killedAt = Date.now()
      leaderChild.kill('SIGKILL')
      const next = await eventually(async () => {
        const h = await holder()
        assert.ok(h !== leader && h !== '')
        return h
      })
      const took = Date.now() - killedAt
      assert.equal(Number(next.split('_').pop()), standby.child.pid)
      assert.ok(took < 4000 + 2000, `handover took ${took} ms`)
      // A clean SIGTERM releases the Lease.
      standby.child.kill('SIGTERM')
      await eventually(async () => assert.equal(await holder(), ''))
    })
  })
})
