import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * The per-user cache of tools the tests use but no Debian package provides (the Go-built control
 * plane of test/control-plane/build.sh, hadolint of scripts/install-test-tools.sh): the same rule as
 * those scripts, `$KUBE_SBC_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/kube-sbc`.
 */
export function testToolsCache(): string {
  return (
    process.env.KUBE_SBC_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kube-sbc')
  )
}
