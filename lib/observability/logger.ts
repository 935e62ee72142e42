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
 * otherwise every level counts as enabled.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let real: Logger | undefined
  const enabled = (level: Level) =>
    (parent as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) ?? true
  const at =
    (level: Level) =>
    (obj: object, msg?: string): void => {
      if (!enabled(level)) return
      real ??= parent.child(bindings)
      real[level](obj, msg)
    }
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => lazyChild(parent, { ...bindings, ...more }),
  }
}
