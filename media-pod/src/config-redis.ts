/** The Redis a media pod uses, from the snapshot's `redis` section (runtime contract). */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SbcConfig } from '../../lib/config/model.ts'

/**
 * The Redis URL and password a config asks for; undefined for the in-process store (`memory`). The
 * password is read from `<secretsDir>/<secret>/<key>` (`defaultSecretsDir()`: KUBE_SBC_SECRETS_DIR).
 */
export function redisFromConfig(
  config: SbcConfig,
  secretsDir: string,
): { url: string; password?: string; sentinelPassword?: string } | undefined {
  const r = config.redis
  let url: string | undefined
  if (r.mode === 'url' && r.url) url = r.url
  else if (r.mode === 'sentinel' && r.sentinel)
    url = `redis-sentinel://${r.sentinel.addresses.join(',')}/${encodeURIComponent(r.sentinel.masterName)}`
  if (url === undefined) return undefined
  if (r.password === null) return { url }
  const password = readFileSync(join(secretsDir, r.password.secret, r.password.key), 'utf8').trim()
  // Sentinels commonly require the master's password too (signalling-pod/src/main.ts).
  return { url, password, ...(r.mode === 'sentinel' ? { sentinelPassword: password } : {}) }
}
