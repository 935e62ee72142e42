/**
 * The media pod process (`kube-sbc media`): config → store → MediaPod; SIGTERM → drain → exit.
 * With `cluster`, the config is the operator's ConfigMap `<sbc>-config`, followed generation by
 * generation and acknowledged through the pod's Lease (docs/design/20261126.runtime-contract.md).
 */
import { hostname } from 'node:os'
import { KubeConfig } from '@kubernetes/client-node'
import type { SbcConfig } from '../../lib/config/model.ts'
import { AckLease } from '../../lib/kube/ack-lease.ts'
import { KubeClient } from '../../lib/kube/kube-client.ts'
import { SnapshotWatcher } from '../../lib/kube/snapshot-watcher.ts'
import { createLogger } from '../../lib/observability/create-logger.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { MemoryStore } from '../../lib/state/memory-store.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { redact } from '../../lib/state/redis-url.ts'
import { defaultSecretsDir } from '../../signalling-pod/src/secrets/secret-resolver.ts'
import { redisFromConfig } from './config-redis.ts'
import { MediaPod } from './media-pod.ts'

/** Where the snapshot comes from in a cluster: ConfigMap `<sbc>-config` in `namespace`. */
export interface MediaClusterSource {
  sbc: string
  namespace: string
  /** POD_NAME: the ack Lease's name. */
  podName: string
  /** POD_UID: the Lease is owned by the Pod when given. */
  podUid?: string
  /** Default: KUBECONFIG, ~/.kube/config, then in-cluster. */
  kubeconfig?: string
  /** Ack Lease renewal (default 10 s, contract). */
  renewIntervalMs?: number
}

export interface MediaProcessOptions {
  /** A snapshot file's content; or `cluster`. */
  config?: SbcConfig
  cluster?: MediaClusterSource
  /** Overrides the snapshot's `redis` section. */
  redisUrl?: string
  ngHost: string
  ngPort: number
  httpPort: number
  nodeAddress: string
  workers: number
  /** SCHED_FIFO priority of the native relay workers, 0 = normal scheduling (MediaPodOptions). */
  workerPriority?: number
  /** Load-following placement's packets per second per worker, 0 = spread evenly (MediaPodOptions). */
  workerSpillPps?: number
  mediaTimeoutSeconds: number
  /** Seconds a call on hold may stay silent (MediaPodOptions.holdTimeoutMs), 0 = never. */
  holdTimeoutSeconds: number
  drainSeconds: number
  portQuarantineMs?: number
  /** Registry heartbeat period (ms); the registry entry lives 3 periods. Default 5000. */
  heartbeatMs?: number
  ngSecret?: string
  logLevel?: string
  logPretty?: boolean
}

/** Runs until SIGTERM/SIGINT has drained the process; resolves with the exit code. */
export async function runMediaProcess(o: MediaProcessOptions): Promise<number> {
  const podId = o.cluster?.podName ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`
  const logger = createLogger({
    ...(o.logLevel ? { level: o.logLevel } : {}),
    ...(o.logPretty ? { pretty: true } : {}),
    base: { component: 'media', pod: podId },
  })
  const registry = createMetricsRegistry({ component: 'media' })
  let store: DialogStore | undefined
  let pod: MediaPod | undefined
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (sig: string) => {
      logger.info({ signal: sig }, 'Received signal')
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      resolve(sig)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  const startPod = async (config: SbcConfig) => {
    store ??= await createStore(o, config, logger)
    return MediaPod.start({
      config,
      store,
      logger,
      registry,
      podId,
      nodeAddress: o.nodeAddress,
      ngHost: o.ngHost,
      ngPort: o.ngPort,
      httpPort: o.httpPort,
      workers: o.workers,
      ...(o.workerPriority !== undefined ? { workerPriority: o.workerPriority } : {}),
      ...(o.workerSpillPps !== undefined ? { workerSpillPps: o.workerSpillPps } : {}),
      mediaTimeoutMs: o.mediaTimeoutSeconds * 1000,
      holdTimeoutMs: o.holdTimeoutSeconds * 1000,
      ...(o.portQuarantineMs !== undefined ? { quarantineMs: o.portQuarantineMs } : {}),
      ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
      ...(o.ngSecret !== undefined ? { ngSecret: o.ngSecret } : {}),
    })
  }
  let watcher: SnapshotWatcher | undefined
  let ack: AckLease | undefined
  if (o.cluster) {
    const c = o.cluster
    const kubeConfig = new KubeConfig()
    if (c.kubeconfig) kubeConfig.loadFromFile(c.kubeconfig)
    else kubeConfig.loadFromDefault()
    const client = new KubeClient(kubeConfig)
    const lease = new AckLease({
      client,
      namespace: c.namespace,
      podName: c.podName,
      ...(c.podUid !== undefined ? { podUid: c.podUid } : {}),
      sbc: c.sbc,
      role: 'media',
      ...(c.renewIntervalMs !== undefined ? { renewIntervalMs: c.renewIntervalMs } : {}),
      logger,
    })
    ack = lease
    await lease.start()
    watcher = new SnapshotWatcher({
      client,
      namespace: c.namespace,
      sbc: c.sbc,
      logger,
      // One at a time, in generation order; a throw keeps the running config and is retried.
      onSnapshot: async (config) => {
        if (pod) pod.applyConfig(config)
        else pod = await startPod(config)
        await lease.acknowledge(config.generation)
      },
    })
    await watcher.start()
    if (!watcher.current)
      logger.info(
        { configMap: watcher.configMapName, namespace: c.namespace },
        'Waiting for the config snapshot',
      )
  } else if (o.config) {
    pod = await startPod(o.config)
  } else throw new Error('runMediaProcess needs config or cluster')
  await stopped
  await watcher?.stop()
  if (pod) {
    await pod.drain(o.drainSeconds * 1000)
    await pod.close()
  }
  await ack?.stop()
  await store?.close()
  logger.info({}, 'Stopped media pod')
  return 0
}

/** `--redis` wins; else the snapshot's `redis` section; else the in-process store (one pod). */
async function createStore(o: MediaProcessOptions, config: SbcConfig, logger: Logger): Promise<DialogStore> {
  // The signalling pods' directory (KUBE_SBC_SECRETS_DIR, else the mount point): the operator mounts
  // the password Secret there for both.
  const fromConfig = o.redisUrl === undefined ? redisFromConfig(config, defaultSecretsDir()) : undefined
  const url = o.redisUrl ?? fromConfig?.url
  if (url === undefined) return new MemoryStore()
  const redis = new RedisStore({
    url,
    logger,
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
  })
  try {
    await redis.connected(10_000)
  } catch (err) {
    logger.error({ err: (err as Error).message, redis: redact(url) }, 'Redis not reachable at start')
  }
  return redis
}
