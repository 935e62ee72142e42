/**
 * The media side of a signalling process (docs/b2bua.md, "Media anchoring"): the `MediaAnchor` the
 * B2BUA calls, where it finds media pods, and who ends calls whose media timed out.
 *
 * - `registry` (`kube-sbc signalling`, cluster): media pods are the DaemonSet's, found in the store's
 *   registry they heartbeat into; media timeout notices come from the Redis channel.
 * - `in-process` (`kube-sbc run`): a media pod (media-pod/src `MediaPod`: the same NG handler,
 *   relay and port allocators as `kube-sbc media`) runs in this process on the config's realms, NG
 *   on an ephemeral loopback port, registered in the same store (in-process store, or Redis with
 *   `--redis`: then several `run` processes on one machine reach each other's media pods, and each
 *   prefers its own for new calls). In-process rather than a child process: one process to start
 *   and stop, one /metrics (the media metrics are on the signalling registry), and the relay's
 *   native worker threads work the same in either host process.
 * - `off`: SDP passes through unchanged (the B2BUA's pass-through hook).
 */
import { networkInterfaces } from 'node:os'
import type { Registry } from 'prom-client'
import type { SbcConfig } from '../../../lib/config/model.ts'
import type { MediaTimeoutNotice } from '../../../lib/media/control/media-timeout.ts'
import type { Logger } from '../../../lib/observability/logger.ts'
import type { DialogStore, MediaPodInfo } from '../../../lib/state/dialog-store.ts'
import { RedisStore } from '../../../lib/state/redis-store.ts'
import { MediaPod } from '../../../media-pod/src/media-pod.ts'
import { anchorsMedia, MediaAnchor } from './media-anchor.ts'
import { MediaPodWatch } from './media-pod-watch.ts'
import { type MediaTimeoutSubscription, subscribeMediaTimeouts } from './media-timeouts.ts'

/** How a signalling process anchors media. */
export type MediaMode =
  | { kind: 'off' }
  | { kind: 'registry'; ngSecret?: string }
  | {
      kind: 'in-process'
      /** Seconds without packets before a call is reported silent (0 = never). */
      mediaTimeoutSeconds: number
      /** Seconds a call on hold may stay silent before it is reported (0 = never). */
      holdTimeoutSeconds: number
      /** Native relay worker threads (0 = the TypeScript relay only). */
      workers: number
      /** How long a released port stays out of circulation (ms). */
      portQuarantineMs?: number
    }

export interface MediaRuntimeOptions {
  mode: MediaMode
  /** The first config (the in-process media pod starts on its realms). */
  config: SbcConfig
  /** The config in force, read on every offer. */
  current: () => SbcConfig
  store: DialogStore
  logger: Logger
  registry: Registry
  podName: string
  /** A call's media went silent. */
  onTimeout: (n: MediaTimeoutNotice) => void
  /**
   * A media pod left the registry (heartbeat expired or unregistered): its calls are to be moved
   * (call-reanchor.ts). Watched with a shared store only: with the in-process store the only media
   * pod is this process's own, which leaves the registry only when the process drains.
   */
  onPodLost?: (pod: MediaPodInfo) => void
  /** Registry poll period of the watch (ms), default 1000. */
  watchIntervalMs?: number
}

/** See the file comment. */
export class MediaRuntime {
  readonly anchor: MediaAnchor
  #pod: MediaPod | undefined
  readonly #o: MediaRuntimeOptions
  readonly #sub: MediaTimeoutSubscription | undefined
  readonly #watch: MediaPodWatch | undefined

  private constructor(
    o: MediaRuntimeOptions,
    anchor: MediaAnchor,
    sub: MediaTimeoutSubscription | undefined,
  ) {
    this.#o = o
    this.anchor = anchor
    this.#sub = sub
    const onLost = o.onPodLost
    if (onLost && o.store instanceof RedisStore) {
      this.#watch = new MediaPodWatch({
        store: o.store,
        onLost: (pod) => {
          anchor.podLeft(pod.id)
          onLost(pod)
        },
        logger: o.logger,
        ...(o.watchIntervalMs !== undefined ? { intervalMs: o.watchIntervalMs } : {}),
      })
      this.#watch.start()
    }
  }

  /** Undefined for `off`. */
  static async start(o: MediaRuntimeOptions): Promise<MediaRuntime | undefined> {
    const mode = o.mode
    if (mode.kind === 'off') {
      o.logger.info({}, 'Media anchoring off: SDP passes through unchanged')
      return undefined
    }
    const podId = `${o.podName}-media`
    const anchor = new MediaAnchor({
      config: o.current,
      store: o.store,
      logger: o.logger,
      ...(mode.kind === 'in-process' ? { preferPod: podId, retransmitMs: 200 } : {}),
      ...(mode.kind === 'registry' && mode.ngSecret !== undefined ? { secret: mode.ngSecret } : {}),
    })
    // A shared store: notices come on the Redis channel (from every media pod, this process's too).
    const sub = await subscribeMediaTimeouts(o.store, o.onTimeout, o.logger)
    const rt = new MediaRuntime(o, anchor, sub)
    await rt.applyConfig(o.config)
    if (!anchorsMedia(o.config))
      o.logger.info({}, 'The config has no MediaRealm: SDP passes through unchanged')
    return rt
  }

  /** The in-process media pod, when there is one. */
  get pod(): MediaPod | undefined {
    return this.#pod
  }

  /** A new generation: the in-process media pod follows the realms (started when the first appears). */
  async applyConfig(config: SbcConfig): Promise<void> {
    const mode = this.#o.mode
    // The pod serves the config's realms: none yet, nothing to start.
    if (mode.kind !== 'in-process' || config.realms.length === 0) return
    if (this.#pod) {
      this.#pod.applyConfig(config)
      return
    }
    const shared = this.#sub !== undefined
    this.#pod = await MediaPod.start({
      config,
      store: this.#o.store,
      logger: this.#o.logger.child({ module: 'media' }),
      registry: this.#o.registry,
      podId: `${this.#o.podName}-media`,
      nodeAddress: hostAddress(),
      // NG stays on the machine: the loopback, an ephemeral port (registered in the store).
      ngHost: '127.0.0.1',
      ngPort: 0,
      httpPort: 0,
      workers: mode.workers,
      mediaTimeoutMs: mode.mediaTimeoutSeconds * 1000,
      holdTimeoutMs: mode.holdTimeoutSeconds * 1000,
      ...(mode.portQuarantineMs !== undefined ? { quarantineMs: mode.portQuarantineMs } : {}),
      // With Redis the pod publishes its notices and the subscription above gets them.
      ...(shared ? {} : { onTimeout: this.#o.onTimeout }),
    })
  }

  /** SIGTERM, after signalling drained: the media pod leaves the registry and lets calls end. */
  async drain(graceMs: number): Promise<void> {
    await this.#pod?.drain(graceMs)
  }

  async close(): Promise<void> {
    await this.#watch?.close()
    await this.#sub?.close()
    await this.anchor.close()
    await this.#pod?.close()
  }
}

/** The address SDP carries for a realm bound on the wildcard: the first non-internal IPv4. */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address
  return '127.0.0.1'
}
