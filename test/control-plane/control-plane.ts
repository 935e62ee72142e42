import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { KubeConfig } from '@kubernetes/client-node'
import { KubeClient } from '../../lib/kube/kube-client.ts'
import { type StartedProcess, startProcess } from '../harness/child-process.ts'
import { freePort } from '../harness/free-port.ts'
import { testToolsCache } from '../harness/tool-cache.ts'

const here = import.meta.dirname

/** Versions, read from build.sh so the script stays the single place they are written. */
export const versions = (() => {
  const script = readFileSync(join(here, 'build.sh'), 'utf8')
  const pick = (name: string): string => {
    const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(script)
    if (!m?.[1]) throw new Error(`build.sh does not set ${name}`)
    return m[1]
  }
  return { kubernetes: pick('K8S_VERSION'), etcd: pick('ETCD_VERSION'), kwok: pick('KWOK_VERSION') }
})()

/** build.sh's output folder: `$KUBE_SBC_CACHE/k8s-bin`, default `~/.cache/kube-sbc/k8s-bin`. */
const binCache = join(testToolsCache(), 'k8s-bin')

/** Where build.sh puts the binaries, and the Debian etcd used when ours is not built. */
export const binaries = {
  kubeApiserver: join(binCache, versions.kubernetes, 'kube-apiserver'),
  kubeControllerManager: join(binCache, versions.kubernetes, 'kube-controller-manager'),
  kubeScheduler: join(binCache, versions.kubernetes, 'kube-scheduler'),
  etcd: join(binCache, `etcd-${versions.etcd}`, 'etcd'),
  debianEtcd: '/usr/bin/etcd',
  kwok: join(binCache, `kwok-${versions.kwok}`, 'kwok'),
} as const

/** A static-token user, written into kube-apiserver's `--token-auth-file` at start. */
export interface StaticTokenUser {
  user: string
  /** Defaults to a random token. */
  token?: string
  uid?: string
  groups?: readonly string[]
}

/** A fake node served by kwok (full mode). */
export interface FakeNode {
  name: string
  labels?: Record<string, string>
  taints?: readonly { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[]
}

/** Options of {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /**
   * `apiserver`: etcd + kube-apiserver (seconds to start): CRDs, validation, SSA, RBAC, Leases.
   * `full`: also kube-controller-manager, kube-scheduler and kwok, so Deployments get Running/Ready
   * pods on fake nodes and garbage collection works.
   */
  mode?: 'apiserver' | 'full'
  /** Extra static-token users (the admin token is always there). */
  tokens?: readonly StaticTokenUser[]
  /** Fake nodes to create in full mode (default: one node `kwok-node-0`). */
  nodes?: readonly FakeNode[]
  /** Extra kube-apiserver flags, e.g. `--feature-gates=...`. */
  apiserverArgs?: readonly string[]
  /** Give up waiting for readiness after this long (default 120 s: two shared cores are slow). */
  startTimeoutMs?: number
}

/** A running control plane. Everything is on 127.0.0.1; `stop()` undoes everything `start` did. */
export interface ControlPlane {
  readonly mode: 'apiserver' | 'full'
  /** `https://127.0.0.1:<port>` */
  readonly server: string
  /** Temp dir holding data, keys, tokens and kubeconfigs. */
  readonly dir: string
  /** Admin kubeconfig file (system:masters). */
  readonly kubeconfigPath: string
  /** The admin identity as a client-node KubeConfig. */
  readonly kubeConfig: KubeConfig
  /** Admin {@link KubeClient}. */
  readonly client: KubeClient
  /** Which etcd runs: the built 3.5 or Debian's 3.4 fallback. */
  readonly etcdBinary: string
  /** etcd's client URL (`http://127.0.0.1:<port>`). */
  readonly etcdUrl: string
  /** Tokens of the static users, by user name. */
  readonly tokens: ReadonlyMap<string, string>
  /** A KubeConfig (and file) authenticating with `token`, e.g. a static user's. */
  kubeConfigForToken(token: string, name?: string): Promise<{ kubeConfig: KubeConfig; path: string }>
  /**
   * Credentials of a ServiceAccount, as a pod would have them: creates the ServiceAccount (and
   * namespace) if missing and asks the TokenRequest API for a token. Use it to run the operator
   * with exactly the RBAC its Helm chart grants.
   */
  serviceAccountKubeConfig(
    namespace: string,
    name: string,
  ): Promise<{ kubeConfig: KubeConfig; path: string; token: string }>
  /** Creates a kwok-managed fake node (full mode) and waits until it is Ready. */
  addNode(node: FakeNode): Promise<void>
  /** PIDs of the processes this control plane started, by component. */
  pids(): ReadonlyMap<string, number>
  /** Output of a component so far, for failure messages. */
  logs(component: 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok'): string
  /** Stops the processes this control plane started (by PID) and removes its temp dir. */
  stop(): Promise<void>
}

/**
 * Control planes not yet stopped. If the test process exits without stopping one (a crash, a
 * forgotten after hook), its processes are killed by PID and its temp dir removed on exit.
 */
const live = new Set<{ dir: string; procs: Map<string, StartedProcess> }>()
process.once('exit', () => {
  for (const { dir, procs } of live) {
    for (const p of procs.values()) {
      try {
        process.kill(p.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
})

/** Starts a control plane on loopback. Throws, after cleaning up, if a component fails to start. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  // A free port can be taken by another engineer's process between `freePort()` and the bind; the
  // component then exits with "address already in use". Start again with fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err
    }
  }
}

async function startOnce(options: ControlPlaneOptions): Promise<ControlPlane> {
  const mode = options.mode ?? 'apiserver'
  const timeout = options.startTimeoutMs ?? 120_000
  for (const bin of [
    binaries.kubeApiserver,
    ...(mode === 'full' ? [binaries.kubeControllerManager, binaries.kubeScheduler, binaries.kwok] : []),
  ]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run test/control-plane/build.sh`)
  }
  const etcdBinary = existsSync(binaries.etcd) ? binaries.etcd : binaries.debianEtcd
  if (!existsSync(etcdBinary)) throw new Error(`no etcd: run test/control-plane/build.sh`)

  const dir = await mkdtemp(join(tmpdir(), 'kube-sbc-cp-'))
  const procs = new Map<string, StartedProcess>()
  const track = { dir, procs }
  live.add(track)
  const stopAll = async () => {
    // Reverse start order: clients before the API server, the API server before etcd.
    for (const p of [...procs.values()].reverse()) await p.stop(10_000)
    procs.clear()
    await rm(dir, { recursive: true, force: true })
    live.delete(track)
  }
  try {
    // --- etcd -------------------------------------------------------------------------------------
    const etcdPort = await freePort()
    const peerPort = await freePort()
    const etcdUrl = `http://127.0.0.1:${etcdPort}`
    const peerUrl = `http://127.0.0.1:${peerPort}`
    const etcdArgs = [
      '--name=cp',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=cp=${peerUrl}`,
      // metrics and the v2 HTTP endpoints stay on the client URL; nothing listens elsewhere
      '--log-level=warn',
    ]
    // etcd 3.5 can skip fsync: a test cluster loses nothing it needs, and saves most of its I/O.
    if (etcdBinary === binaries.etcd) etcdArgs.push('--unsafe-no-fsync')
    procs.set('etcd', startProcess(etcdBinary, etcdArgs))
    await waitFor(
      () => httpOk(`${etcdUrl}/health`),
      timeout,
      'etcd /health',
      () => procs.get('etcd'),
    )

    // --- credentials ------------------------------------------------------------------------------
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const saKey = join(dir, 'sa.key')
    const saPub = join(dir, 'sa.pub')
    await writeFile(saKey, sa.privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 })
    await writeFile(saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }))
    const adminToken = randomToken()
    const tokens = new Map<string, string>([['admin', adminToken]])
    const lines = [`${adminToken},admin,admin-uid,"system:masters"`]
    for (const [i, u] of (options.tokens ?? []).entries()) {
      const token = u.token ?? randomToken()
      tokens.set(u.user, token)
      lines.push(`${token},${u.user},${u.uid ?? `static-uid-${i}`},"${(u.groups ?? []).join(',')}"`)
    }
    await writeFile(join(dir, 'tokens.csv'), `${lines.join('\n')}\n`, { mode: 0o600 })

    // --- kube-apiserver ---------------------------------------------------------------------------
    const apiPort = await freePort()
    const server = `https://127.0.0.1:${apiPort}`
    const pki = join(dir, 'pki')
    await mkdir(pki)
    const apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      // Loopback advertise address: no default route is needed, and nothing leaves the host.
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      // A loopback advertise address cannot be written into the `kubernetes` Endpoints.
      '--endpoint-reconciler-type=none',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      // Without the controller manager nothing creates `default` ServiceAccounts, so the admission
      // plugin would reject every Pod; with it (full mode) Pods get tokens as in a real cluster.
      ...(mode === 'apiserver' ? ['--disable-admission-plugins=ServiceAccount'] : []),
      ...(options.apiserverArgs ?? []),
    ]
    procs.set('kube-apiserver', startProcess(binaries.kubeApiserver, apiArgs))
    const caFile = join(pki, 'apiserver.crt')
    await waitFor(
      async () => existsSync(caFile) && (await httpOk(`${server}/readyz`, readFileSync(caFile))),
      timeout,
      'kube-apiserver /readyz',
      () => procs.get('kube-apiserver'),
    )

    const kubeconfigText = (user: string, token: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server, 'certificate-authority': caFile } }],
        users: [{ name: user, user: { token } }],
        contexts: [{ name: user, context: { cluster: 'test', user, namespace: 'default' } }],
        'current-context': user,
      })
    const writeKubeconfig = async (user: string, token: string) => {
      const path = join(dir, `${user.replace(/[^a-zA-Z0-9_.-]/g, '_')}.kubeconfig`)
      await writeFile(path, kubeconfigText(user, token), { mode: 0o600 })
      const kubeConfig = new KubeConfig()
      kubeConfig.loadFromFile(path)
      return { kubeConfig, path }
    }
    const admin = await writeKubeconfig('admin', adminToken)
    const client = new KubeClient(admin.kubeConfig)

    const addNode = async (node: FakeNode) => {
      if (mode !== 'full') throw new Error('fake nodes need mode: full (kwok)')
      await client.create({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: node.name,
          labels: {
            'kubernetes.io/hostname': node.name,
            'kubernetes.io/os': 'linux',
            type: 'kwok',
            ...node.labels,
          },
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        },
        spec: { taints: node.taints ? [...node.taints] : undefined },
        status: {
          allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
          capacity: { cpu: '32', memory: '256Gi', pods: '110' },
        },
      } as never)
      await waitFor(
        async () => {
          const n = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>({
            apiVersion: 'v1',
            kind: 'Node',
            name: node.name,
          })
          return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
        },
        timeout,
        `node ${node.name} Ready`,
        () => procs.get('kwok'),
      )
    }

    // --- full mode: controllers, scheduler, fake kubelet -----------------------------------------
    if (mode === 'full') {
      const kc = admin.path
      procs.set(
        'kube-controller-manager',
        startProcess(binaries.kubeControllerManager, [
          `--kubeconfig=${kc}`,
          `--authentication-kubeconfig=${kc}`,
          `--authorization-kubeconfig=${kc}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${await freePort()}`,
          '--controllers=*',
          `--service-account-private-key-file=${saKey}`,
          `--root-ca-file=${caFile}`,
          '--cluster-name=kube-sbc-test',
          '--use-service-account-credentials=false',
        ]),
      )
      procs.set(
        'kube-scheduler',
        startProcess(binaries.kubeScheduler, [
          `--kubeconfig=${kc}`,
          `--authentication-kubeconfig=${kc}`,
          `--authorization-kubeconfig=${kc}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${await freePort()}`,
        ]),
      )
      procs.set(
        'kwok',
        startProcess(binaries.kwok, [
          `--kubeconfig=${kc}`,
          '--manage-all-nodes=false',
          '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
          '--manage-nodes-with-label-selector=',
          '--manage-single-node=',
          // Fake addresses: labels inside the API, never connected to.
          '--cidr=10.0.0.1/24',
          '--node-ip=10.0.0.1',
          '--node-lease-duration-seconds=40',
          `--server-address=127.0.0.1:${await freePort()}`,
        ]),
      )
      // The default ServiceAccount proves the controller manager runs (and Pods need it).
      await waitFor(
        async () =>
          (await client.get({
            apiVersion: 'v1',
            kind: 'ServiceAccount',
            namespace: 'default',
            name: 'default',
          })) !== undefined,
        timeout,
        'kube-controller-manager (default ServiceAccount)',
        () => procs.get('kube-controller-manager'),
      )
      for (const node of options.nodes ?? [{ name: 'kwok-node-0' }]) await addNode(node)
    }

    return {
      mode,
      server,
      dir,
      kubeconfigPath: admin.path,
      kubeConfig: admin.kubeConfig,
      client,
      etcdBinary,
      etcdUrl,
      tokens,
      kubeConfigForToken: (token, name = `token-${randomBytes(4).toString('hex')}`) =>
        writeKubeconfig(name, token),
      async serviceAccountKubeConfig(namespace, name) {
        await ensure(client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } })
        await ensure(client, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } })
        const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`
        const tr = await client.request<{ status: { token: string } }>({
          method: 'POST',
          path,
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { expirationSeconds: 86_400 },
          },
        })
        const token = tr.status.token
        return { ...(await writeKubeconfig(`system:serviceaccount:${namespace}:${name}`, token)), token }
      },
      addNode,
      pids: () => new Map([...procs].map(([k, p]) => [k, p.pid])),
      logs: (component) => procs.get(component)?.output() ?? '',
      stop: stopAll,
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}

async function ensure(
  client: KubeClient,
  obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
) {
  const existing = await client.get({ ...obj, name: obj.metadata.name, namespace: obj.metadata.namespace })
  if (existing) return
  try {
    await client.create(obj)
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 409) throw err
  }
}

function randomToken(): string {
  return randomBytes(24).toString('hex')
}

/** GET `url` and report whether it answered 2xx (any error counts as not yet). */
function httpOk(url: string, ca?: Buffer): Promise<boolean> {
  return new Promise((done) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest
    const req = send(url, { method: 'GET', ca, timeout: 5000 }, (res) => {
      res.resume()
      res.on('end', () => done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300))
    })
    req.on('error', () => done(false))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

/** Polls `check` until it is true; fails early with the component's output if it exited. */
async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  proc: () => StartedProcess | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    const p = proc()
    const exited = p ? await Promise.race([p.exited.then(() => true), sleep(0).then(() => false)]) : false
    if (exited || Date.now() > deadline) {
      throw new Error(
        `${what}: ${exited ? 'process exited' : `not ready within ${timeoutMs} ms`}\n${p?.output().slice(-4000) ?? ''}`,
      )
    }
    await sleep(200)
  }
}
