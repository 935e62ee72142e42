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
