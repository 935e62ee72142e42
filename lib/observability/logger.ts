/**
 * The logging surface the pure libraries accept by injection. It is the subset of pino's Logger
 * that we use, so a pino logger is passed as is, while `lib/sip` and `lib/media` never import pino.
 */
export interface Logger {
  trace(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

/** A logger that drops everything; the default where none is injected. */
export const nullLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger
  },
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error'

/**
 * A child of `parent` that is only built when it first writes a line at an enabled level. A pino
 * child serialises its bindings when created (~15 µs each, measured; docs/benchmarks/signalling.md),
 * and the B2BUA makes one or two per call and per in-dialog request while, at the usual `warn`
 * level, most calls never log. `parent` is asked through pino's `isLevelEnabled` when it has one;
 * otherwise every level counts as enabled. A class, not an object of closures: one small object per
 * call instead of seven functions (~2 KB allocated per call, docs/benchmarks/signalling.md).
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyChild(parent, bindings)
}

class LazyChild implements Logger {
  readonly #parent: Logger
  readonly #bindings: Record<string, unknown>
  #real: Logger | undefined

  constructor(parent: Logger, bindings: Record<string, unknown>) {
    this.#parent = parent
    this.#bindings = bindings
  }

  /** The real child when `level` is enabled (built on first use), else undefined. */
  #at(level: Level): Logger | undefined {
    const enabled =
      (this.#parent as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) ?? true
    if (!enabled) return undefined
    this.#real ??= this.#parent.child(this.#bindings)
    return this.#real
  }

  trace(obj: object, msg?: string): void {
    this.#at('trace')?.trace(obj, msg)
  }
  debug(obj: object, msg?: string): void {
    this.#at('debug')?.debug(obj, msg)
  }
  info(obj: object, msg?: string): void {
    this.#at('info')?.info(obj, msg)
  }
  warn(obj: object, msg?: string): void {
    this.#at('warn')?.warn(obj, msg)
  }
  error(obj: object, msg?: string): void {
    this.#at('error')?.error(obj, msg)
  }
  child(more: Record<string, unknown>): Logger {
    return new LazyChild(this.#parent, { ...this.#bindings, ...more })
  }
}
