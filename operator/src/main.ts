import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { KubeConfig } from '@kubernetes/client-node'
import { createLogger } from '../../lib/observability/create-logger.ts'
import { startObservabilityServer } from '../../lib/observability/http-server.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import { redact } from '../../lib/state/redis-url.ts'
import { Operator } from './manager.ts'
import { defaultRedisFromEnv } from './redis-default.ts'

/** Flags of `kube-sbc operator`, parsed by cli/commands/operator.ts. */
export interface OperatorProcessOptions {
  leaderElect: boolean
  httpPort: number
  kubeconfig?: string
  namespace?: string
  image?: string
  leaseDurationSeconds?: number
  logLevel?: string
  logPretty?: boolean
}

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace'

function defaultImage(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return `ghcr.io/kube-sbc/kube-sbc:${pkg.version}`
}

function ownNamespace(flag: string | undefined): string {
  if (flag) return flag
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE
  try {
    return readFileSync(SA_NAMESPACE, 'utf8').trim()
  } catch {
    return 'default'
  }
}

/**
 * Runs the operator until SIGTERM/SIGINT: in-cluster config or KUBECONFIG (or --kubeconfig), the
 * HTTP port with /metrics, /healthz, /readyz (ready once caches synced, on leader and standby),
 * and leader election on Lease `kube-sbc-operator` in its namespace. Losing leadership exits with
 * status 1 (the kubelet restarts it as a standby); SIGTERM releases the Lease and exits 0.
 */
export async function runOperator(o: OperatorProcessOptions): Promise<number> {
  const logger = createLogger({ level: o.logLevel, pretty: o.logPretty, base: { component: 'operator' } })
  // Before anything connects: a malformed default is an SBC_ERR_OPERATOR_DEFAULT_REDIS at start.
  const defaultRedis = defaultRedisFromEnv(process.env)
  const kubeConfig = new KubeConfig()
  if (o.kubeconfig) kubeConfig.loadFromFile(o.kubeconfig)
  else kubeConfig.loadFromDefault()
  const registry = createMetricsRegistry({ component: 'operator' })
  const identity = `${process.env.POD_NAME ?? hostname()}_${process.pid}`
  let exit: (code: number) => void = () => {}
  const done = new Promise<number>((resolve) => {
    exit = resolve
  })
  const operator = new Operator({
    kubeConfig,
    namespace: ownNamespace(o.namespace),
    leaderElect: o.leaderElect,
    image: o.image ?? process.env.KUBE_SBC_IMAGE ?? defaultImage(),
    defaultRedis,
    identity,
    leaseDurationMs: o.leaseDurationSeconds === undefined ? undefined : o.leaseDurationSeconds * 1000,
    registry,
    logger,
    onLostLeadership: () => {
      logger.error({}, 'lost leadership; exiting so a fresh standby takes its place')
      exit(1)
    },
  })
  const server = await startObservabilityServer({
    port: o.httpPort,
    registry,
    readiness: () => (operator.ready ? true : { ok: false, reason: 'caches not synced' }),
  })
  logger.info(
    {
      port: server.port,
      identity,
      leaderElect: o.leaderElect,
      defaultRedis: {
        ...defaultRedis,
        url: defaultRedis.url === undefined ? undefined : redact(defaultRedis.url),
      },
    },
    'operator listening',
  )
  const onSignal = (signal: string) => {
    logger.info({ signal }, 'shutting down')
    exit(0)
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  operator.start().catch((err: unknown) => {
    logger.error({ err }, 'operator failed to start')
    exit(1)
  })
  const code = await done
  await operator.stop().catch((err: unknown) => logger.warn({ err }, 'error while stopping'))
  await server.close()
  logger.info({ code }, 'operator stopped')
  return code
}
