/**
 * The signalling process: HTTP port → config source → (first generation) store → SignallingServer
 * → every further generation through the reconciler; SIGTERM → drain → exit. Shared by
 * `kube-sbc run` (CR YAML), `kube-sbc signalling --config` (a snapshot file) and
 * `kube-sbc signalling --sbc` (the operator's ConfigMap). docs/signalling-config.md.
 */
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { SbcConfig } from '../../lib/config/model.ts'
import { createLogger } from '../../lib/observability/create-logger.ts'
import { startObservabilityServer } from '../../lib/observability/http-server.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { MemoryStore } from '../../lib/state/memory-store.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { redact } from '../../lib/state/redis-url.ts'
import type { ConfigSource } from './config-sources.ts'
import { CallReanchor } from './media/call-reanchor.ts'
import { type MediaMode, MediaRuntime } from './media/media-runtime.ts'
import { endTimedOutCall } from './media/media-timeouts.ts'
import { SignallingMetrics } from './metrics.ts'
import { defaultSecretsDir, fileSecretResolver, type SecretResolver } from './secrets/secret-resolver.ts'
import { SecretWatcher, tlsSecretNames } from './secrets/secret-watcher.ts'
import { SignallingServer } from './signalling-server.ts'

/** Where the kubelet mounts the Secrets a snapshot names (runtime contract). */
export const SECRETS_DIR = '/etc/kube-sbc/secrets'

export interface SignallingProcessOptions {
  source: ConfigSource
  /** Redis URL; overrides the snapshot's `redis` section. */
  redisUrl?: string
  /** Use the snapshot's `redis` section when `redisUrl` is not given (not for `kube-sbc run`). */
  redisFromConfig?: boolean
  /** Root of the mounted Secrets (default {@link SECRETS_DIR}). */
  secretsDir?: string
  /** TLS Secret material (`kube-sbc run`: the input YAML's Secrets); default the files under `secretsDir`. */
  secrets?: SecretResolver
  /**
   * With `secrets`: registers the listener to call when that material changed (TLS interfaces
   * read it again). Without `secrets` the mounted files are watched instead.
   */
  onSecretsChange?: (listener: () => void) => void
  httpPort: number
  logLevel?: string
  logPretty?: boolean
  drainSeconds: number
  /** Media anchoring (docs/b2bua.md, "Media anchoring"); default off (SDP passes through). */
  media?: MediaMode
}

/**
 * The Redis URL and password a config asks for; undefined for the in-process store. With Sentinel
 * the password is also the sentinels' (`sentinelPassword`): sentinels commonly require the master's
 * password (Bitnami's chart: `auth.sentinel`, on by default), and ioredis carries on when one does
 * not ask for it.
 */
export function redisFromConfig(
  config: SbcConfig,
  secretsDir: string,
): { url: string; password?: string; sentinelPassword?: string } | undefined {
  const r = config.redis
  let url: string | undefined
  if (r.mode === 'url' && r.url) url = r.url
  else if (r.mode === 'sentinel' && r.sentinel)
    url = `redis-sentinel://${r.sentinel.addresses.join(',')}/${encodeURIComponent(r.sentinel.masterName)}`
  if (url === undefined) return undefined
  if (r.password === null) return { url }
  const file = join(secretsDir, r.password.secret, r.password.key)
  const password = readFileSync(file, 'utf8').trim()
  return { url, password, ...(r.mode === 'sentinel' ? { sentinelPassword: password } : {}) }
}

async function createStore(
  o: SignallingProcessOptions,
  config: SbcConfig,
  logger: Logger,
  metrics: SignallingMetrics,
): Promise<{ store: DialogStore; shared: boolean }> {
  // The same directory as the TLS Secrets (KUBE_SBC_SECRETS_DIR): the operator mounts both there.
  const fromConfig =
    o.redisUrl === undefined && o.redisFromConfig
      ? redisFromConfig(config, o.secretsDir ?? defaultSecretsDir())
      : undefined
  const url = o.redisUrl ?? fromConfig?.url
  if (url === undefined) return { store: new MemoryStore(), shared: false }
  const redis = new RedisStore({
    url,
    ...(fromConfig?.password !== undefined
      ? {
          redis: {
            password: fromConfig.password,
            ...(fromConfig.sentinelPassword !== undefined
              ? { sentinelPassword: fromConfig.sentinelPassword }
              : {}),
          },
        }
      : {}),
    logger,
    observer: metrics.redisObserver,
    onHealth: (h) => logger.warn({ health: h }, 'State store health changed'),
  })
  try {
    await redis.connected(10_000)
  } catch (err) {
    // Start anyway: new INVITEs get 503 until Redis answers (issue 4, Deliver 5).
    logger.error({ err: (err as Error).message, redis: redact(url) }, 'Redis not reachable at start')
  }
  return { store: redis, shared: true }
}

/** Runs until SIGTERM/SIGINT has drained the process; resolves with the exit code. */
export async function runSignallingProcess(o: SignallingProcessOptions): Promise<number> {
  const podName = process.env.POD_NAME ?? `${hostname()}-${process.pid}`
  const logger = createLogger({
    ...(o.logLevel ? { level: o.logLevel } : {}),
    ...(o.logPretty ? { pretty: true } : {}),
    base: { component: 'signalling', pod: podName },
  })
  const registry = createMetricsRegistry({ component: 'signalling' })
  const metrics = new SignallingMetrics(registry)
  let server: SignallingServer | undefined
  let store: { store: DialogStore; shared: boolean } | undefined
  let media: MediaRuntime | undefined
  let reanchor: CallReanchor | undefined
  const http = await startObservabilityServer({
    port: o.httpPort,
    registry,
    readiness: () => server?.readiness() ?? { ok: false, reason: 'no config applied' },
  })
  logger.info({ httpPort: http.port, source: o.source.description }, 'Waiting for the first SbcConfig')
  // Mounted Secrets change in place when a certificate is renewed: read them again on change.
  // `kube-sbc run` passes its YAML Secrets instead, which change through a new generation.
  const secretsDir = o.secretsDir ?? defaultSecretsDir()
  const reloadTls = () => {
    server?.reloadTls().catch((err) => logger.error({ err }, 'TLS reload failed'))
  }
  const watcher =
    o.secrets === undefined ? new SecretWatcher({ dir: secretsDir, logger, onChange: reloadTls }) : undefined
  o.onSecretsChange?.(reloadTls)
  const apply = async (config: SbcConfig) => {
    if (!server) {
      store = await createStore(o, config, logger, metrics)
      media = await MediaRuntime.start({
        mode: o.media ?? { kind: 'off' },
        config,
        current: () => server?.config ?? config,
        store: store.store,
        logger,
        registry,
        podName,
        onTimeout: (n) => {
          if (server && store) void endTimedOutCall(server.b2bua, n, logger, store.store)
        },
        // A lost media pod: its calls are re-INVITEd onto another one, or ended. Not by a process
        // that is draining: its SIP interfaces are closing, and its own in-process media pod leaves
        // the registry as part of the drain (the other processes move those calls).
        onPodLost: (pod) => {
          if (reanchor && server && !server.b2bua.draining) void reanchor.podLost(pod)
        },
      })
      server = SignallingServer.create({
        store: store.store,
        logger,
        registry,
        metrics,
        podName,
        podAddress: process.env.POD_IP ?? '127.0.0.1',
        secrets: o.secrets ?? fileSecretResolver(secretsDir),
        ...(media ? { media: media.anchor } : {}),
      })
      if (media)
        reanchor = new CallReanchor({
          store: store.store,
          signalling: server.b2bua,
          media: media.anchor,
          podName,
          logger,
          onOutcome: (outcome) => metrics.mediaPodLostCalls.inc({ outcome }),
        })
    } else await media?.applyConfig(config)
    const first = !server.applied
    await server.applyConfig(config)
    watcher?.watch(tlsSecretNames(config))
    if (first) logger.info({ generation: config.generation, httpPort: http.port }, 'Started signalling')
  }
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (sig: string) => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      resolve(sig)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  try {
    await o.source.start(apply, logger)
  } catch (err) {
    watcher?.close()
    await o.source.stop()
    await media?.close()
    await http.close()
    await store?.store.close()
    throw err
  }
  logger.info({ signal: await stopped }, 'Received signal')
  watcher?.close()
  await o.source.stop()
  if (server) {
    await server.drain(o.drainSeconds * 1000, store?.shared !== true)
    await server.close()
  }
  // After signalling: with a shared store, calls outlive this process's signalling and keep their
  // media here until they end or the grace period passes; with the in-process store they are over.
  await media?.drain(store?.shared === true ? o.drainSeconds * 1000 : 0)
  await media?.close()
  await http.close()
  await store?.store.close()
  logger.info({}, 'Stopped signalling')
  return 0
}
