/**
 * The signalling process: config → store → SignallingServer, SIGTERM → drain → exit. Shared by
 * `kube-sbc run` (CR YAML) and `kube-sbc signalling` (an SbcConfig snapshot).
 */
import { hostname } from 'node:os'
import type { SbcConfig } from '../../lib/config/model.ts'
import { createLogger } from '../../lib/observability/create-logger.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { MemoryStore } from '../../lib/state/memory-store.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { redact } from '../../lib/state/redis-url.ts'
import { SignallingServer } from './signalling-server.ts'

export interface SignallingProcessOptions {
  config: SbcConfig
  /** Redis URL; the in-process store without one. */
  redisUrl?: string
  httpPort: number
  logLevel?: string
  logPretty?: boolean
  drainSeconds: number
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
  let store: DialogStore
  if (o.redisUrl) {
    const redis = new RedisStore({
      url: o.redisUrl,
      logger,
      onHealth: (h) => logger.warn({ health: h }, 'State store health changed'),
    })
    store = redis
    try {
      await redis.connected(10_000)
    } catch (err) {
      // Start anyway: new INVITEs get 503 until Redis answers (issue 4, Deliver 5).
      logger.error({ err: (err as Error).message, redis: redact(o.redisUrl) }, 'Redis not reachable at start')
    }
  } else {
    store = new MemoryStore()
  }
  const server = await SignallingServer.start({
    config: o.config,
    store,
    logger,
    registry,
    httpPort: o.httpPort,
    podName,
    podAddress: process.env.POD_IP ?? '127.0.0.1',
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
  await server.drain(o.drainSeconds * 1000, o.redisUrl === undefined)
  await server.close()
  await store.close()
  logger.info({}, 'Stopped signalling')
  return 0
}
