/**
 * Where a signalling process gets its `SbcConfig` generations (docs/signalling-config.md):
 *
 * - {@link staticSource}: one config, applied once (`kube-sbc run -f`);
 * - {@link fileSource}: a snapshot file, reloaded on SIGHUP and when the file changes
 *   (`kube-sbc signalling --config`, `kube-sbc run -f --watch` with a compile step);
 * - {@link clusterSource}: the operator's ConfigMap `<sbc>-config` through the API, each applied
 *   generation acknowledged in the pod's Lease (`kube-sbc signalling --sbc`).
 *
 * A source calls `apply` serially; `apply` throws when the generation was rolled back.
 */
import { type FSWatcher, statSync, watch } from 'node:fs'
import { basename, dirname } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import type { SbcConfig } from '../../lib/config/model.ts'
import { AckLease } from '../../lib/kube/ack-lease.ts'
import { KubeClient } from '../../lib/kube/kube-client.ts'
import { SnapshotWatcher } from '../../lib/kube/snapshot-watcher.ts'
import type { Logger } from '../../lib/observability/logger.ts'

export type ApplyConfig = (config: SbcConfig) => Promise<void>

export interface ConfigSource {
  /** For logs: `file /path`, `configmap ns/sbc-config`. */
  readonly description: string
  /**
   * Starts delivering generations. Resolves once the first one was handed to `apply` (file and
   * static sources: rejects when that one fails) or, for the cluster, once the watch is up.
   */
  start(apply: ApplyConfig, logger: Logger): Promise<void>
  stop(): Promise<void>
}

/** One config, applied once. */
export function staticSource(config: SbcConfig, description = 'static'): ConfigSource {
  return {
    description,
    start: (apply) => apply(config),
    async stop() {},
  }
}

/**
 * A config read by `load` (which throws on invalid input), applied at start and again on SIGHUP
 * or when one of `paths` changes, whenever the loaded content differs from the running one. A
 * failed reload is logged; the running config stays.
 */
export function fileSource(
  paths: readonly string[],
  load: (previous: SbcConfig | undefined) => SbcConfig,
  description = `file ${paths.join(',')}`,
): ConfigSource {
  let watchers: FSWatcher[] = []
  let onHup: (() => void) | undefined
  let timer: NodeJS.Timeout | undefined
  let running: SbcConfig | undefined
  let chain: Promise<void> = Promise.resolve()
  const same = (a: SbcConfig, b: SbcConfig) =>
    JSON.stringify({ ...a, generation: 0 }) === JSON.stringify({ ...b, generation: 0 })
  return {
    description,
    async start(apply, logger) {
      running = load(undefined)
      await apply(running)
      const reload = (why: string) => {
        chain = chain.then(async () => {
          let next: SbcConfig
          try {
            next = load(running)
          } catch (err) {
            logger.error(
              { err: (err as Error).message, why },
              'Config reload failed; keeping the running one',
            )
            return
          }
          if (running && same(running, next)) return
          try {
            await apply(next)
            running = next
          } catch {
            // The reconciler logged the rollback.
          }
        })
      }
      onHup = () => reload('SIGHUP')
      process.on('SIGHUP', onHup)
      // Editors write in several steps (truncate, write, rename): settle for a moment first.
      const changed = () => {
        clearTimeout(timer)
        timer = setTimeout(() => reload('file changed'), 200)
      }
      // A file is watched through its folder: editors and the kubelet replace files by rename.
      watchers = paths.map((p) =>
        statSync(p).isDirectory()
          ? watch(p, { recursive: true }, changed)
          : watch(dirname(p), (_e, f) => (f === null || f === basename(p) ? changed() : undefined)),
      )
    },
    async stop() {
      if (onHup) process.off('SIGHUP', onHup)
      clearTimeout(timer)
      for (const w of watchers) w.close()
      await chain
    },
  }
}

/** Options of {@link clusterSource}. */
export interface ClusterSourceOptions {
  sbc: string
  namespace: string
  /** Path of a kubeconfig; default KUBECONFIG, ~/.kube/config, then in-cluster. */
  kubeconfig?: string
  podName: string
  podUid?: string
}

/**
 * The operator's snapshot: `SnapshotWatcher` on ConfigMap `<sbc>-config`, `AckLease` `<pod>`
 * acknowledging each applied generation. A rolled-back generation is retried with backoff by the
 * watcher (and never acknowledged).
 */
export function clusterSource(o: ClusterSourceOptions): ConfigSource {
  const kubeConfig = new KubeConfig()
  if (o.kubeconfig) kubeConfig.loadFromFile(o.kubeconfig)
  else kubeConfig.loadFromDefault()
  const client = new KubeClient(kubeConfig)
  let watcher: SnapshotWatcher | undefined
  let ack: AckLease | undefined
  return {
    description: `configmap ${o.namespace}/${o.sbc}-config`,
    async start(apply, logger) {
      ack = new AckLease({
        client,
        namespace: o.namespace,
        podName: o.podName,
        ...(o.podUid ? { podUid: o.podUid } : {}),
        sbc: o.sbc,
        role: 'signalling',
        logger,
      })
      await ack.start()
      const lease = ack
      watcher = new SnapshotWatcher({
        client,
        namespace: o.namespace,
        sbc: o.sbc,
        logger,
        onSnapshot: async (config) => {
          await apply(config)
          await lease.acknowledge(config.generation)
          logger.info({ generation: config.generation }, 'Acknowledged SbcConfig generation')
        },
      })
      await watcher.start()
    },
    async stop() {
      await watcher?.stop()
      await ack?.stop()
    },
  }
}
