import { parseArgs } from 'node:util'
import { UsageError } from '../errors.ts'

/** Flags shared by `run` and `signalling`. */
/** Flag `--name` of parsed `values` as an integer in [min, max], `def` when absent; else a usage error. */
export function intFlag(
  values: Record<string, unknown>,
  name: string,
  def: number,
  min: number,
  max: number,
): number {
  const s = values[name]
  if (s === undefined) return def
  // Decimal digits only: Number() reads '' and blanks as 0 (for these flags "off" or "any port"), and
  // takes 1e3 and 0x10.
  const n = typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : Number.NaN
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer ${min}-${max}`)
  return n
}

export interface ProcessFlags {
  redis?: string
  httpPort: number
  logLevel?: string
  logPretty: boolean
  drainSeconds: number
  help: boolean
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** Parses the common flags plus `extra`; throws a one-line {@link UsageError}. */
export function parseProcessFlags<
  E extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>,
>(args: readonly string[], extra: E): { flags: ProcessFlags; values: Record<string, unknown> } {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        ...extra,
        redis: { type: 'string' },
        'http-port': { type: 'string' },
        'log-level': { type: 'string' },
        'log-pretty': { type: 'boolean' },
        'drain-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    })
  } catch (e) {
    throw new UsageError(
      (e instanceof Error ? e.message : String(e)).split('. To specify')[0] ?? 'bad arguments',
    )
  }
  const v = parsed.values as Record<string, unknown>
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument ${parsed.positionals[0]}`)
  const int = (name: string, def: number, min: number, max: number) => intFlag(v, name, def, min, max)
  const level = v['log-level'] as string | undefined
  if (level !== undefined && !LEVELS.includes(level))
    throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`)
  const redis = v.redis as string | undefined
  if (redis !== undefined && !/^(rediss?|redis[+-]sentinel):\/\//.test(redis))
    throw new UsageError('--redis must be a redis://, rediss:// or redis-sentinel:// URL')
  return {
    flags: {
      ...(redis !== undefined ? { redis } : {}),
      httpPort: int('http-port', 8080, 0, 65535),
      ...(level !== undefined ? { logLevel: level } : {}),
      logPretty: v['log-pretty'] === true,
      drainSeconds: int('drain-seconds', 30, 0, 3600),
      help: v.help === true,
    },
    values: v,
  }
}

export const COMMON_FLAGS_USAGE = `  --redis URL           share dialog state in Redis (redis://, rediss://, redis-sentinel://);
                        default: the in-process store
  --http-port N         /metrics /healthz /readyz port (default 8080; 0 picks a free one)
  --drain-seconds N     grace period after SIGTERM (default 30)
  --log-level LEVEL     trace, debug, info (default), warn, error
  --log-pretty          human-readable logs instead of JSON lines
  -h, --help            show this help`
