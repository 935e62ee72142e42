import { type FSWatcher, watch } from 'node:fs'
import { join } from 'node:path'
import type { SbcConfig } from '../../../lib/config/model.ts'
import { type Logger, nullLogger } from '../../../lib/observability/logger.ts'

/** Options of a {@link SecretWatcher}. */
export interface SecretWatcherOptions {
  /** Root of the mounted Secrets (`<dir>/<secret>/<key>`). */
  readonly dir: string
  /** Called once per burst of changes, and at every `pollMs`; should read the material again. */
  readonly onChange: () => void
  /**
   * Quiet time after the last event of a burst before `onChange`: the kubelet's update is
   * several renames and a writer that is not atomic writes the certificate and the key one after
   * the other. Default 500 ms.
   */
  readonly settleMs?: number
  /**
   * `onChange` also runs this often whatever the events, for volumes whose changes inotify does
   * not see (some network file systems) and Secret directories that appear later. Default 60 s;
   * 0 turns it off.
   */
  readonly pollMs?: number
  readonly logger?: Logger
}

/**
 * Watches the directories of mounted Secrets. The kubelet updates a Secret volume in place and
 * atomically: it writes the new keys into a fresh timestamped directory and renames the `..data`
 * symlink onto it, the key files being symlinks through `..data` (Kubernetes AtomicWriter). The
 * files themselves are never written, so the directory is what is watched: each rename in it
 * fires an event. Non-recursive `fs.watch` (inotify) per Secret directory, plus a periodic call
 * as a safety net; the caller compares the material and ignores what did not change.
 */
export class SecretWatcher {
  readonly #o: SecretWatcherOptions
  readonly #watchers = new Map<string, FSWatcher>()
  /** The root, for Secret directories that appear after the start (outside Kubernetes). */
  #root: FSWatcher | undefined
  #wanted = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  readonly #poll: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: SecretWatcherOptions) {
    this.#o = options
    const pollMs = options.pollMs ?? 60_000
    if (pollMs > 0) {
      this.#poll = setInterval(() => {
        this.#retarget()
        this.#o.onChange()
      }, pollMs)
      this.#poll.unref()
    }
  }

  /** The Secrets being watched with an open watcher (for tests and logs). */
  get watching(): string[] {
    return [...this.#watchers.keys()].sort()
  }

  /** Watches exactly the directories of `secrets` (Secret names), dropping the others. */
  watch(secrets: Iterable<string>): void {
    this.#wanted = new Set(secrets)
    this.#retarget()
  }

  #retarget(): void {
    if (this.#closed) return
    if (this.#root === undefined && this.#wanted.size > 0) {
      try {
        this.#root = watch(this.#o.dir, { persistent: false }, (_event, name) => {
          if (typeof name === 'string' && this.#wanted.has(name) && !this.#watchers.has(name)) {
            this.#retarget()
            this.#changed()
          }
        })
        this.#root.on('error', () => {
          this.#root?.close()
          this.#root = undefined
        })
      } catch {
        // No root yet: the periodic check tries again.
      }
    }
    for (const [name, w] of this.#watchers)
      if (!this.#wanted.has(name)) {
        w.close()
        this.#watchers.delete(name)
      }
    for (const name of this.#wanted) {
      if (this.#watchers.has(name)) continue
      const path = join(this.#o.dir, name)
      try {
        const w = watch(path, { persistent: false }, () => this.#changed())
        w.on('error', (err) => {
          // The directory went away (Secret unmounted): the poll opens it again if it comes back.
          this.#o.logger?.warn({ err, secret: name }, 'Stopped watching a Secret directory')
          w.close()
          if (this.#watchers.get(name) === w) this.#watchers.delete(name)
        })
        this.#watchers.set(name, w)
      } catch (err) {
        ;(this.#o.logger ?? nullLogger).warn(
          { secret: name, path, code: (err as NodeJS.ErrnoException).code },
          'Cannot watch a Secret directory; its changes are picked up by the periodic check',
        )
      }
    }
  }

  #changed(): void {
    if (this.#closed) return
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (!this.#closed) this.#o.onChange()
    }, this.#o.settleMs ?? 500)
  }

  close(): void {
    this.#closed = true
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#poll) clearInterval(this.#poll)
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
    this.#root?.close()
  }
}

/** The Secrets the TLS interfaces of a config read (certificate, key, client CA). */
export function tlsSecretNames(config: SbcConfig): Set<string> {
  const names = new Set<string>()
  for (const i of config.interfaces) {
    if (i.tls === null) continue
    names.add(i.tls.certificate.secret)
    names.add(i.tls.privateKey.secret)
    if (i.tls.clientCA) names.add(i.tls.clientCA.secret)
  }
  return names
}
