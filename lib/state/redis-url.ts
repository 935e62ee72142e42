import type { RedisOptions } from 'ioredis'
import { InvalidStateError } from './errors.ts'

/**
 * Connection options from a URL. Forms (docs/state.md, "Connecting"):
 *
 * - `redis://[user:password@]host[:port][/db]` — plain TCP (port 6379 by default);
 * - `rediss://…` — the same over TLS;
 * - `redis-sentinel://[user:password@]host[:port][,host[:port]…]/master-name[/db][?sentinelPassword=…&tls=true]`
 *   — Sentinel: the comma-separated sentinels (port 26379 by default), the monitored master's name,
 *   and its credentials; `tls=true` uses TLS to the master and to the sentinels.
 *
 * `redis+sentinel://` is accepted as an alias (the form some other clients use).
 */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const m = /^([a-z+-]+):\/\/(?:([^@/]*)@)?([^/?]*)(\/[^?]*)?(?:\?(.*))?$/.exec(url)
  if (!m) throw new InvalidStateError(`cannot parse Redis URL ${redact(url)}`)
  const [, scheme, auth, hosts, path = '', query = ''] = m
  const params = new URLSearchParams(query)
  const opts: RedisOptions = {}
  if (auth) {
    const i = auth.indexOf(':')
    const user = decodeURIComponent(i < 0 ? '' : auth.slice(0, i))
    const password = decodeURIComponent(i < 0 ? auth : auth.slice(i + 1))
    if (user) opts.username = user
    if (password) opts.password = password
  }
  const segments = path.split('/').filter((s) => s !== '')
  const db = (s: string | undefined) => {
    if (s === undefined) return
    if (!/^\d+$/.test(s)) throw new InvalidStateError(`bad database number in Redis URL ${redact(url)}`)
    opts.db = Number(s)
  }
  if (scheme === 'redis' || scheme === 'rediss') {
    const [host, port] = hostPort(hosts ?? '', 6379, url)
    opts.host = host
    opts.port = port
    db(segments[0])
    if (scheme === 'rediss') opts.tls = { servername: host }
    return opts
  }
  if (scheme === 'redis-sentinel' || scheme === 'redis+sentinel') {
    const name = segments[0]
    if (!name) throw new InvalidStateError(`Sentinel URL needs a master name: ${redact(url)}`)
    opts.name = decodeURIComponent(name)
    db(segments[1])
    opts.sentinels = (hosts ?? '').split(',').map((h) => {
      const [host, port] = hostPort(h, 26379, url)
      return { host, port }
    })
    const sp = params.get('sentinelPassword')
    if (sp) opts.sentinelPassword = sp
    if (params.get('tls') === 'true') {
      opts.tls = {}
      opts.enableTLSForSentinelMode = true
      opts.sentinelTLS = {}
    }
    return opts
  }
  throw new InvalidStateError(`unsupported Redis URL scheme ${scheme}: ${redact(url)}`)
}

function hostPort(s: string, defaultPort: number, url: string): [string, number] {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(s)
  if (!m?.[1]) throw new InvalidStateError(`bad host in Redis URL ${redact(url)}`)
  const port = m[2] === undefined ? defaultPort : Number(m[2])
  if (port < 1 || port > 65535) throw new InvalidStateError(`bad port in Redis URL ${redact(url)}`)
  return [m[1].replace(/^\[|\]$/g, ''), port]
}

/** The URL without its password, for error messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^@/:]*):[^@/]*@/, '//$1:***@').replace(/(sentinelPassword=)[^&]*/, '$1***')
}
