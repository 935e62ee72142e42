import { pino } from 'pino'
import type { Logger } from './logger.ts'

/** Options every long-running command accepts (`--log-level`, `--log-pretty`). */
export interface LoggerOptions {
  /** pino level name; `info` by default. */
  level?: string
  /** Human-readable output through pino-pretty instead of JSON lines (for people, not for log shippers). */
  pretty?: boolean
  /**
   * Bindings on every line, e.g. `{ component: 'signalling' }`: `component` names the process. Parts
   * inside it bind `module` in their child loggers (pino does not replace a parent's key, it writes
   * it twice, so a child must not bind `component` again).
   */
  base?: Record<string, unknown>
  /** Where lines go; stdout by default. Tests pass a stream to capture them. */
  destination?: NodeJS.WritableStream
}

/**
 * The one place that constructs pino. Libraries take a {@link Logger} by injection; process entry
 * points call this. Times are ISO strings so JSON lines read well in `kubectl logs`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info'
  const base = { ...options.base }
  if (options.pretty) {
    const transport = pino.transport({
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' },
    })
    return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, transport)
  }
  return pino(
    {
      level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ sync: false }),
  )
}
