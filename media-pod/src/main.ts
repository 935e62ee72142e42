/**
 * The media pod process (`kube-sbc media`): config → store → MediaPod; SIGTERM → drain → exit.
 */
import { hostname } from 'node:os'
import type { SbcConfig } from '../../lib/config/model.ts'
import { createLogger } from '../../lib/observability/create-logger.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { MemoryStore } from '../../lib/state/memory-store.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { redact } from '../../lib/state/redis-url.ts'
import { MediaPod } from './media-pod.ts'

export interface MediaProcessOptions {
  config: SbcConfig
  redisUrl?: string
  ngHost: string
  ngPort: number
  httpPort: number
  nodeAddress: string
  workers: number
  mediaTimeoutSeconds: number
  drainSeconds: number
  portQuarantineMs?: number
  ngSecret?: string
  logLevel?: string
  logPretty?: boolean
}

/** Runs until SIGTERM/SIGINT has drained the process; resolves with the exit code. */
export async function runMediaProcess(o: MediaProcessOptions): Promise<number> {
  const podId = process.env.POD_NAME ?? `${hostname()}-${process.pid}`
  const logger = createLogger({
    ...(o.logLevel ? { level: o.logLevel } : {}),
    ...(o.logPretty ? { pretty: true } : {}),
    base: { component: 'media', pod: podId },
  })
  const registry = createMetricsRegistry({ component: 'media' })
  let store: DialogStore
  if (o.redisUrl) {
    const redis = new RedisStore({ url: o.redisUrl, logger })
    store = redis
    try {
      await redis.connected(10_000)
    } catch (err) {
      logger.error({ err: (err as Error).message, redis: redact(o.redisUrl) }, 'Redis not reachable at start')
    }
  } else store = new MemoryStore()
  const pod = await MediaPod.start({
    config: o.config,
    store,
    logger,
    registry,
    podId,
    nodeAddress: o.nodeAddress,
    ngHost: o.ngHost,
    ngPort: o.ngPort,
    httpPort: o.httpPort,
    workers: o.workers,
    mediaTimeoutMs: o.mediaTimeoutSeconds * 1000,
    ...(o.portQuarantineMs !== undefined ? { quarantineMs: o.portQuarantineMs } : {}),
    ...(o.ngSecret !== undefined ? { ngSecret: o.ngSecret } : {}),
  })
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      logger.info({ signal: sig }, 'Received signal')
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      resolve()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  await pod.drain(o.drainSeconds * 1000)
  await pod.close()
  await store.close()
  logger.info({}, 'Stopped media pod')
  return 0
}
