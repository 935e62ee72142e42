/**
 * Notices media pods leaving the registry (docs/b2bua.md, "A media pod disappears"). Media pods
 * heartbeat into the store's registry; an entry lives three heartbeats, so a pod killed or cut off
 * drops out of `listMediaPods()` at most three heartbeats after its last one, and a draining pod
 * drops out at once (it unregisters). The watch polls the registry and reports each pod that was
 * listed at the previous poll and is not any more, with its last record (the NG address, to tell
 * a draining pod from a dead one).
 *
 * A poll that fails (store down) reports nothing and keeps the previous list: a Redis outage is
 * not the loss of every media pod.
 */
import type { Logger } from '../../../lib/observability/logger.ts'
import type { DialogStore, MediaPodInfo } from '../../../lib/state/dialog-store.ts'

export interface MediaPodWatchOptions {
  store: DialogStore
  /** Called once per pod that left the registry. Its errors are the caller's to log. */
  onLost: (pod: MediaPodInfo) => void
  logger: Logger
  /** Poll period (ms); default 1000. */
  intervalMs?: number
}

/** See the file comment. */
export class MediaPodWatch {
  readonly #o: MediaPodWatchOptions
  #known: Map<string, MediaPodInfo> | undefined
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<unknown> | undefined

  constructor(options: MediaPodWatchOptions) {
    this.#o = options
  }

  /** Starts polling, with a first poll now (it only learns the current pods). */
  start(): void {
    if (this.#timer) return
    const tick = () => {
      this.#polling ??= this.poll().finally(() => {
        this.#polling = undefined
      })
    }
    this.#timer = setInterval(tick, this.#o.intervalMs ?? 1000)
    this.#timer.unref()
    tick()
  }

  /** One poll: compares the registry with the previous poll and reports the pods gone. */
  async poll(): Promise<MediaPodInfo[]> {
    let now: MediaPodInfo[]
    try {
      now = await this.#o.store.listMediaPods()
    } catch (err) {
      this.#o.logger.debug({ err: (err as Error).message }, 'Media pod watch: registry not readable')
      return []
    }
    const current = new Map(now.map((p) => [p.id, p]))
    const known = this.#known
    const lost = known ? [...known.values()].filter((p) => !current.has(p.id)) : []
    this.#known = current
    if (!known) this.#o.logger.info({ pods: [...current.keys()] }, 'Watching the media pod registry')
    for (const p of lost) {
      this.#o.logger.warn({ pod: p.id, address: p.address }, 'Media pod left the registry')
      this.#o.onLost(p)
    }
    return lost
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#polling
  }
}
