import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parser as promqlParser } from '@prometheus-io/lezer-promql'
import { parse as parseYaml } from 'yaml'
import {
  chartDir,
  find,
  fixturesDir,
  helm,
  type K8sObject,
  packageVersion,
  podSpec,
  render,
  renderText,
} from './chart.ts'
import { repoRoot } from './helm-binary.ts'
import { crdDrift } from './sync-crds.ts'

const production = join(fixturesDir, 'values-production.yaml')

/** The operator's RBAC, exactly as docs/design/20261126.runtime-contract.md ("RBAC") lists it. */
const crud = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']
const sbcKinds = [
  'sessionbordercontrollers',
  'sipinterfaces',
  'mediarealms',
  'ipprofiles',
  'ipgroups',
  'routingrules',
]
const contractClusterRules: [string, string[], string[]][] = [
  ['sbc.kubesbc.io', sbcKinds, ['get', 'list', 'watch']],
  ['sbc.kubesbc.io', sbcKinds.map((k) => `${k}/status`), ['get', 'update', 'patch']],
  ['', ['configmaps', 'services', 'serviceaccounts'], crud],
  ['apps', ['deployments', 'daemonsets'], crud],
  ['policy', ['poddisruptionbudgets'], crud],
  ['rbac.authorization.k8s.io', ['roles', 'rolebindings'], crud],
  ['networking.k8s.io', ['networkpolicies'], crud],
  ['', ['secrets'], ['get', 'list', 'watch', 'create', 'patch', 'delete']],
  ['', ['pods'], ['get', 'list', 'watch']],
  ['coordination.k8s.io', ['leases'], ['get', 'list', 'watch', 'create', 'update', 'patch']],
  ['', ['events'], ['create', 'patch']],
  ['events.k8s.io', ['events'], ['create', 'patch']],
]

/** Flattens RBAC rules to sorted "group|resource|verb" triples (so grouping does not matter). */
function triples(rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[]): string[] {
  const out = new Set<string>()
  for (const r of rules)
    for (const g of r.apiGroups)
      for (const res of r.resources) for (const v of r.verbs) out.add(`${g}|${res}|${v}`)
  return [...out].sort()
}

/** Every container of every workload runs with the restricted Pod Security Standard's settings. */
function assertRestricted(objs: readonly K8sObject[]): number {
  let checked = 0
  for (const o of objs) {
    const spec = podSpec(o)
    if (!spec) continue
    assert.notEqual(spec.hostNetwork, true, `${o.kind}/${o.metadata.name} uses hostNetwork`)
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
      const where = `${o.kind}/${o.metadata.name} container ${c.name}`
      const sc = c.securityContext ?? {}
      assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`)
      assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`)
      assert.equal(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`)
      assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: capabilities.drop`)
      assert.equal(sc.capabilities?.add, undefined, `${where}: capabilities.add`)
      assert.equal(sc.privileged ?? false, false, `${where}: privileged`)
      const seccomp = sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type
      assert.equal(seccomp, 'RuntimeDefault', `${where}: seccompProfile`)
      assert.ok(
        c.resources?.requests?.memory && c.resources?.limits?.memory,
        `${where}: memory request and limit`,
      )
      for (const p of c.ports ?? []) assert.equal(p.hostPort, undefined, `${where}: hostPort`)
      checked++
    }
    const uid = spec.securityContext?.runAsUser
    assert.ok(uid === undefined || uid > 0, `${o.kind}/${o.metadata.name}: runAsUser ${uid}`)
  }
  return checked
}

function assertLabelled(objs: readonly K8sObject[], release: string): void {
  for (const o of objs) {
    const l = o.metadata.labels ?? {}
    assert.equal(l['app.kubernetes.io/instance'], release, `${o.kind}/${o.metadata.name} instance label`)
    assert.equal(l['app.kubernetes.io/part-of'], 'kube-sbc', `${o.kind}/${o.metadata.name} part-of label`)
    assert.equal(l['app.kubernetes.io/managed-by'], 'Helm', `${o.kind}/${o.metadata.name} managed-by label`)
  }
}

// biome-ignore lint/suspicious/noExplicitAny: env entries of a rendered container.
function envOf(container: any): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of container.env ?? []) out[e.name] = e.value ?? `<from ${Object.keys(e.valueFrom ?? {})[0]}>`
  return out
}

describe('helm chart kube-sbc', function () {
  this.timeout(60_000)

  describe('chart metadata and CRDs', () => {
    it('appVersion equals package.json version', () => {
      const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as {
        apiVersion: string
        appVersion: string
      }
      assert.equal(chart.apiVersion, 'v2')
      assert.equal(chart.appVersion, packageVersion())
    })

    it('helm/kube-sbc/crds is an exact copy of crds/ (run `node test/helm/sync-crds.ts`)', () => {
      assert.deepEqual(crdDrift(), [])
    })

    it('the ClusterRole names exactly the kinds the CRDs serve', () => {
      const crds = render({ includeCrds: true }).filter((o) => o.kind === 'CustomResourceDefinition')
      assert.ok(crds.length >= 6, `expected the six sbc.kubesbc.io CRDs, got ${crds.length}`)
      assert.deepEqual(crds.map((c) => c.spec.names.plural).sort(), [...sbcKinds].sort())
    })
  })

  describe('helm lint', () => {
    it('passes with default values', () => {
      const r = helm(['lint', chartDir])
      assert.equal(r.status, 0, r.stdout + r.stderr)
    })
    it('passes --strict with non-default values', () => {
      const r = helm(['lint', '--strict', chartDir, '--values', production])
      assert.equal(r.status, 0, r.stdout + r.stderr)
    })
  })

  describe('helm template with default values', () => {
    let objs: K8sObject[] = []
    const version = packageVersion()
    before(() => {
      objs = render({ release: 'sbc', namespace: 'kube-sbc' })
    })

    it('renders the expected objects and nothing else', () => {
      assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
        'ClusterRole/sbc-kube-sbc-operator',
        'ClusterRoleBinding/sbc-kube-sbc-operator',
        'Deployment/sbc-kube-sbc-operator',
        'PodDisruptionBudget/sbc-kube-sbc-operator',
        'Role/sbc-kube-sbc-leader-election',
        'RoleBinding/sbc-kube-sbc-leader-election',
        'Secret/sbc-redis',
        'Service/sbc-kube-sbc-operator-metrics',
        'Service/sbc-redis',
        'ServiceAccount/sbc-kube-sbc',
        'StatefulSet/sbc-redis',
      ])
      assertLabelled(objs, 'sbc')
    })

    it('the ClusterRole grants exactly the runtime contract RBAC, the Role only the election Lease', () => {
      const cr = find(objs, 'ClusterRole')
      const expected = triples(
        contractClusterRules.map(([g, resources, verbs]) => ({ apiGroups: [g], resources, verbs })),
      )
      assert.deepEqual(triples(cr.rules), expected)
      const role = find(objs, 'Role')
      assert.equal(role.metadata.namespace, 'kube-sbc')
      assert.deepEqual(
        triples(role.rules),
        triples([
          {
            apiGroups: ['coordination.k8s.io'],
            resources: ['leases'],
            verbs: ['get', 'create', 'update', 'patch'],
          },
        ]),
      )
      for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
        const b = find(objs, kind)
        assert.deepEqual(b.subjects, [
          { kind: 'ServiceAccount', name: 'sbc-kube-sbc', namespace: 'kube-sbc' },
        ])
      }
    })

    it('runs two operator replicas with the contract args, image, probes and port', () => {
      const d = find(objs, 'Deployment')
      assert.equal(d.spec.replicas, 2)
      const spec = podSpec(d)
      assert.equal(spec.serviceAccountName, 'sbc-kube-sbc')
      const [c] = spec.containers
      assert.equal(c.image, `ghcr.io/kube-sbc/kube-sbc:${version}`)
      assert.deepEqual(c.args, ['operator', '--leader-elect', '--http-port=8080', '--log-level=info'])
      assert.equal(c.command, undefined, 'the image entrypoint (kube-sbc) must not be overridden')
      assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }])
      assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' })
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' })
      assert.deepEqual(c.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }])
      const env = envOf(c)
      for (const k of ['POD_NAME', 'POD_NAMESPACE', 'NODE_NAME', 'POD_IP'])
        assert.match(env[k] ?? '', /fieldRef/)
      assert.equal(env.KUBE_SBC_IMAGE, c.image, 'signalling and media pods run the same image')
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_MODE, 'bundled')
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_URL, 'redis://sbc-redis.kube-sbc.svc:6379')
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET, 'kube-sbc/sbc-redis')
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET_KEY, 'redis-password')
      assert.equal(spec.securityContext.runAsUser, 65532)
      const pdb = find(objs, 'PodDisruptionBudget')
      assert.equal(pdb.spec.maxUnavailable, 1)
      assert.deepEqual(pdb.spec.selector.matchLabels, d.spec.selector.matchLabels)
    })

    it('every container runs restricted (no root, read-only root fs, no capabilities, RuntimeDefault seccomp)', () => {
      assert.equal(assertRestricted(objs), 2)
    })

    it('bundles one Redis on the official image with a generated 32-character password', () => {
      const sts = find(objs, 'StatefulSet', 'sbc-redis')
      assert.equal(sts.spec.replicas, 1)
      const [c] = podSpec(sts).containers
      assert.match(c.image, /^docker\.io\/library\/redis:\d+\.\d+\.\d+$/)
      assert.deepEqual(c.env[0].valueFrom.secretKeyRef, { name: 'sbc-redis', key: 'redis-password' })
      assert.ok(c.readinessProbe && c.livenessProbe)
      assert.deepEqual(
        podSpec(sts)
          .volumes.map((v: { name: string }) => v.name)
          .sort(),
        ['data', 'tmp'],
      )
      const secret = find(objs, 'Secret', 'sbc-redis')
      const password = Buffer.from(secret.data['redis-password'], 'base64').toString()
      assert.match(password, /^[A-Za-z0-9]{32}$/)
      const again = find(render({ release: 'sbc', namespace: 'kube-sbc' }), 'Secret', 'sbc-redis')
      assert.notEqual(
        again.data['redis-password'],
        secret.data['redis-password'],
        'random without a cluster to look up',
      )
      const svc = find(objs, 'Service', 'sbc-redis')
      assert.deepEqual(svc.spec.ports, [{ name: 'redis', port: 6379, targetPort: 'redis', protocol: 'TCP' }])
    })

    it('renders no monitoring, dashboard or test Pod unless switched on', () => {
      for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'ConfigMap', 'Pod'])
        assert.ok(!objs.some((o) => o.kind === kind), kind)
    })
  })

  describe('helm template with non-default values (external Sentinel Redis, monitoring, dashboard, 3 replicas)', () => {
    let objs: K8sObject[] = []
    before(() => {
      objs = render({ release: 'voice', namespace: 'voice-system', valuesFiles: [production] })
    })

    it('renders monitoring, dashboard and test Pod, and no bundled Redis', () => {
      assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
        'ClusterRole/voice-sbc-operator',
        'ClusterRoleBinding/voice-sbc-operator',
        'ConfigMap/voice-sbc-dashboard',
        'Deployment/voice-sbc-operator',
        'Pod/voice-sbc-test-sip-options',
        'PodDisruptionBudget/voice-sbc-operator',
        'PodMonitor/voice-sbc-sbc-pods',
        'PrometheusRule/voice-sbc',
        'Role/voice-sbc-leader-election',
        'RoleBinding/voice-sbc-leader-election',
        'Service/voice-sbc-operator-metrics',
        'ServiceAccount/voice-sbc',
        'ServiceMonitor/voice-sbc-operator',
      ])
      assertLabelled(objs, 'voice')
      for (const o of objs) assert.equal(o.metadata.labels?.team, 'voice', `${o.kind} commonLabels`)
      assert.equal(assertRestricted(objs), 2)
    })

    it('operator: 3 replicas, digest image, changed port and log level, Sentinel env', () => {
      const d = find(objs, 'Deployment')
      assert.equal(d.spec.replicas, 3)
      const spec = podSpec(d)
      const [c] = spec.containers
      assert.equal(c.image, `registry.example.invalid/voice/kube-sbc@sha256:${'0123456789abcdef'.repeat(4)}`)
      assert.equal(c.imagePullPolicy, 'Always')
      assert.deepEqual(spec.imagePullSecrets, [{ name: 'regcred' }])
      assert.deepEqual(c.args, ['operator', '--leader-elect', '--http-port=9090', '--log-level=debug'])
      assert.equal(c.ports[0].containerPort, 9090)
      const env = envOf(c)
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_MODE, 'external')
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_URL, undefined)
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_SENTINEL_MASTER, 'sbc-master')
      assert.equal(
        env.KUBE_SBC_DEFAULT_REDIS_SENTINELS,
        'sentinel-0.redis.svc:26379,sentinel-1.redis.svc:26379,sentinel-2.redis.svc:26379',
      )
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET, 'voice-system/sbc-redis-auth')
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET_KEY, 'password')
      assert.equal(env.EXTRA_SETTING, '1')
      assert.equal(spec.tolerations[0].key, 'dedicated')
      assert.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux' })
    })

    it('ServiceMonitor scrapes the metrics Service; PodMonitor selects the operator-managed SBC pods', () => {
      const sm = find(objs, 'ServiceMonitor')
      const svc = find(objs, 'Service', 'voice-sbc-operator-metrics')
      assert.deepEqual(sm.spec.selector.matchLabels, svc.spec.selector)
      assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name)
      assert.equal(sm.metadata.labels?.release, 'kube-prometheus-stack')
      const pm = find(objs, 'PodMonitor')
      assert.deepEqual(pm.spec.namespaceSelector, { any: true })
      assert.deepEqual(pm.spec.selector.matchLabels, {
        'app.kubernetes.io/name': 'kube-sbc',
        'app.kubernetes.io/managed-by': 'kube-sbc-operator',
      })
      assert.equal(pm.spec.podMetricsEndpoints[0].port, 'http')
    })

    it('PrometheusRule has the six required alerts with the configured thresholds', () => {
      const rule = find(objs, 'PrometheusRule')
      // biome-ignore lint/suspicious/noExplicitAny: rendered rule groups.
      const rules = rule.spec.groups.flatMap((g: any) => g.rules) as {
        alert: string
        expr: string
        for: string
        labels: { severity: string }
        annotations: { summary: string }
      }[]
      const byName = new Map(rules.map((r) => [r.alert, r]))
      for (const name of [
        'KubeSbcTrunkDown',
        'KubeSbcProxyDown',
        'KubeSbcLowAnswerSeizureRatio',
        'KubeSbcMediaPortsNearExhaustion',
        'KubeSbcSrtpAuthenticationFailures',
        'KubeSbcRedisUnreachable',
        'KubeSbcConfigNotProgrammed',
      ])
        assert.ok(byName.has(name), `alert ${name}`)
      assert.match(byName.get('KubeSbcLowAnswerSeizureRatio')?.expr ?? '', /< 40\b/)
      assert.match(byName.get('KubeSbcMediaPortsNearExhaustion')?.expr ?? '', /> 90\b/)
      for (const r of rules) {
        assert.match(r.labels.severity, /^(warning|critical)$/, r.alert)
        assert.match(
          r.annotations.summary,
          /\{\{ \$labels\.\w+ \}\}/,
          `${r.alert}: Prometheus templating survives Helm`,
        )
        assert.ok(!/\{\{-|\.Values/.test(r.expr), `${r.alert}: unrendered Helm template`)
      }
    })

    it('every metric the alerts and dashboard use is documented in docs/helm.md', () => {
      const docs = readFileSync(join(repoRoot, 'docs', 'helm.md'), 'utf8')
      const rule = find(objs, 'PrometheusRule')
      const dash = find(objs, 'ConfigMap', 'voice-sbc-dashboard')
      const text = JSON.stringify(rule.spec) + dash.data['kube-sbc.json']
      const metrics = new Set(
        text.match(/\b(sbc|controller_runtime|leader_election|workqueue)_[a-z_]+\b/g) ?? [],
      )
      assert.ok(metrics.size >= 10, [...metrics].join(' '))
      for (const m of metrics) assert.ok(docs.includes(`\`${m}\``), `${m} is not documented in docs/helm.md`)
    })

    it("every alert and dashboard expression is valid PromQL (Prometheus' own grammar)", () => {
      const syntaxErrors = (expr: string): number => {
        let errors = 0
        promqlParser.parse(expr).iterate({
          enter: (n) => {
            if (n.type.isError) errors++
          },
        })
        return errors
      }
      assert.equal(syntaxErrors('sum by (a (rate(x[5m]))'), 1, 'the check itself catches a broken expression')
      const rule = find(objs, 'PrometheusRule')
      const dash = JSON.parse(find(objs, 'ConfigMap', 'voice-sbc-dashboard').data['kube-sbc.json']) as {
        panels: { targets: { expr: string }[] }[]
      }
      const exprs = [
        ...rule.spec.groups.flatMap((g: { rules: { expr: string }[] }) => g.rules.map((r) => r.expr)),
        ...dash.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ] as string[]
      assert.ok(exprs.length >= 18)
      for (const e of exprs) assert.equal(syntaxErrors(e), 0, e)
    })

    it('dashboard ConfigMap carries grafana_dashboard: "1" and valid dashboard JSON', () => {
      const cm = find(objs, 'ConfigMap', 'voice-sbc-dashboard')
      assert.equal(cm.metadata.labels?.grafana_dashboard, '1')
      const dash = JSON.parse(cm.data['kube-sbc.json']) as {
        uid: string
        panels: { targets: { expr: string }[] }[]
      }
      assert.equal(dash.uid, 'kube-sbc-overview')
      assert.ok(dash.panels.length >= 8)
      for (const p of dash.panels)
        assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr.length > 0))
    })

    it('helm test Pod probes the configured SipInterface Service with the kube-sbc image', () => {
      const pod = find(objs, 'Pod')
      assert.equal(pod.metadata.annotations?.['helm.sh/hook'], 'test')
      assert.equal(pod.spec.restartPolicy, 'Never')
      const [c] = pod.spec.containers
      assert.equal(c.image, find(objs, 'Deployment').spec.template.spec.containers[0].image)
      assert.deepEqual(c.command.slice(0, 3), ['node', '--input-type=module', '--eval'])
      assert.equal(c.command[3], readFileSync(join(chartDir, 'files', 'sip-options-probe.mjs'), 'utf8'))
      assert.deepEqual(envOf(c), {
        SIP_TARGET_HOST: 'uclab-wan.sbc.svc',
        SIP_TARGET_PORT: '5061',
        SIP_TRANSPORT: 'tcp',
        SIP_TIMEOUT_SECONDS: '5',
      })
    })
  })

  describe('other value combinations', () => {
    it('bundled Redis with an existing Secret and persistence creates no Secret and a PVC template', () => {
      const objs = render({
        set: [
          'redis.bundled.auth.existingSecret=my-redis',
          'redis.bundled.persistence.enabled=true',
          'redis.bundled.persistence.storageClassName=fast',
        ],
      })
      assert.ok(!objs.some((o) => o.kind === 'Secret'))
      const sts = find(objs, 'StatefulSet')
      assert.equal(sts.spec.volumeClaimTemplates[0].spec.storageClassName, 'fast')
      assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '1Gi')
      assert.deepEqual(
        podSpec(sts).volumes.map((v: { name: string }) => v.name),
        ['tmp'],
      )
      assert.match(podSpec(sts).containers[0].args[0], /--appendonly yes/)
      assert.equal(podSpec(sts).containers[0].env[0].valueFrom.secretKeyRef.name, 'my-redis')
      assert.equal(
        envOf(find(objs, 'Deployment').spec.template.spec.containers[0])
          .KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET,
        'kube-sbc/my-redis',
      )
    })

    it('external Redis by URL and redis.mode=none', () => {
      const ext = render({
        set: ['redis.mode=external', 'redis.external.url=rediss://redis.example.invalid:6380/0'],
      })
      assert.ok(!ext.some((o) => o.kind === 'StatefulSet'))
      const env = envOf(find(ext, 'Deployment').spec.template.spec.containers[0])
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_URL, 'rediss://redis.example.invalid:6380/0')
      assert.equal(env.KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET, undefined)
      const none = envOf(
        find(render({ set: ['redis.mode=none'] }), 'Deployment').spec.template.spec.containers[0],
      )
      assert.equal(none.KUBE_SBC_DEFAULT_REDIS_MODE, 'none')
      assert.equal(none.KUBE_SBC_DEFAULT_REDIS_URL, undefined)
    })

    it('one replica without leader election drops --leader-elect; rbac.create=false renders no RBAC', () => {
      const objs = render({ set: ['replicaCount=1', 'operator.leaderElection=false', 'rbac.create=false'] })
      assert.deepEqual(podSpec(find(objs, 'Deployment')).containers[0].args, [
        'operator',
        '--http-port=8080',
        '--log-level=info',
      ])
      assert.ok(!objs.some((o) => /Role/.test(o.kind)))
      assert.ok(!objs.some((o) => o.kind === 'PodDisruptionBudget'), 'no PDB for a single replica')
    })
  })

  describe('values.schema.json', () => {
    interface Schema {
      $ref?: string
      description?: string
      properties?: Record<string, Schema>
      additionalProperties?: unknown
    }
    const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Schema
    const deref = (s: Schema | undefined): Schema | undefined => {
      if (!s?.$ref) return s
      let cur: unknown = schema
      for (const k of s.$ref.split('/').slice(1)) cur = (cur as Record<string, unknown>)[k]
      return cur as Schema | undefined
    }
    const isMap = (v: unknown): v is Record<string, unknown> =>
      typeof v === 'object' && v !== null && !Array.isArray(v)

    it('describes every key of values.yaml, with a description', () => {
      const values: unknown = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8'))
      const missing: string[] = []
      const walk = (v: unknown, schemaAtPath: Schema | undefined, path: string): void => {
        const s = deref(schemaAtPath)
        if (!s) {
          missing.push(`${path} (no schema)`)
          return
        }
        if (!s.description && path !== '') missing.push(`${path} (no description)`)
        if (isMap(v) && s.properties) {
          for (const [k, child] of Object.entries(v)) walk(child, s.properties[k], path ? `${path}.${k}` : k)
        } else if (isMap(v) && s.additionalProperties === false && Object.keys(v).length) {
          missing.push(`${path} (object without properties)`)
        }
      }
      walk(values, schema, '')
      assert.deepEqual(missing, [])
    })

    it('every object in the schema with properties forbids unknown keys', () => {
      const open: string[] = []
      const walk = (s: Schema, path: string): void => {
        if (!s.properties) return
        if (s.additionalProperties !== false) open.push(path || '(root)')
        for (const [k, child] of Object.entries(s.properties)) walk(child, `${path}.${k}`)
      }
      walk(schema, '')
      assert.deepEqual(open, [])
    })

    const bad: [string[], RegExp][] = [
      [['replicaCount=-1'], /replicaCount: Must be greater than or equal to 1/],
      [['replicaCount=two'], /replicaCount: Invalid type. Expected: integer, given: string/],
      [
        ['redis.mode=cluster'],
        /redis\.mode: redis\.mode must be one of the following: "bundled", "external", "none"/,
      ],
      [
        ['operator.logLevel=verbose'],
        /operator\.logLevel must be one of the following: "trace", "debug", "info"/,
      ],
      [['operator.httpPort=80'], /operator\.httpPort: Must be greater than or equal to 1024/],
      [['replicas=2'], /\(root\): Additional property replicas is not allowed/],
      [['redis.external.url=http://redis:6379'], /redis\.external\.url: Does not match pattern/],
      [
        ['redis.external.sentinel.nodes={sentinel-0}'],
        /redis\.external\.sentinel\.nodes\.0: Does not match pattern/,
      ],
      [
        ['monitoring.prometheusRule.thresholds.answerSeizureRatioPercent=150'],
        /answerSeizureRatioPercent: Must be less than or equal to 100/,
      ],
      [
        ['monitoring.serviceMonitor.interval=often'],
        /monitoring\.serviceMonitor\.interval: Does not match pattern/,
      ],
      [
        ['helmTest.target.transport=tls'],
        /helmTest\.target\.transport must be one of the following: "udp", "tcp"/,
      ],
      [['image.digest=latest'], /image\.digest: Does not match pattern/],
      [['operator.resources.limits.memory=lots'], /operator\.resources\.limits\.memory/],
    ]
    for (const [set, message] of bad) {
      it(`rejects --set ${set.join(' ')} with a clear message`, () => {
        const r = helm(['template', 'sbc', chartDir, ...set.flatMap((s) => ['--set', s])])
        assert.notEqual(r.status, 0, 'helm template must fail')
        assert.match(r.stderr, /values don't meet the specifications of the schema/)
        assert.match(r.stderr, message)
      })
    }

    const failing: [string[], RegExp][] = [
      [
        ['redis.mode=external'],
        /redis\.mode=external needs redis\.external\.url or redis\.external\.sentinel\.masterName/,
      ],
      [['redis.mode=external', 'redis.external.sentinel.masterName=m'], /sentinel\.nodes is empty/],
      [['operator.leaderElection=false'], /operator\.leaderElection must be true when replicaCount > 1/],
      [
        ['monitoring.serviceMonitor.enabled=true', 'metricsService.enabled=false'],
        /needs metricsService\.enabled/,
      ],
    ]
    for (const [set, message] of failing) {
      it(`fails --set ${set.join(' ')} with an explanation (cross-field rules in the templates)`, () => {
        const r = helm(['template', 'sbc', chartDir, ...set.flatMap((s) => ['--set', s])])
        assert.notEqual(r.status, 0)
        assert.match(r.stderr, message)
      })
    }
  })

  it('renderText leaves no template residue', () => {
    const text = renderText({ valuesFiles: [production] })
    assert.ok(!/<no value>|\{\{-? *\.Values/.test(text))
  })
})
