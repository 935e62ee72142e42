import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { buildMediaAddon } from './build.ts'
import { MEDIA_ADDON_PATH } from './media-addon.ts'

/*
 * A relay leg is a socket, so a process out of file descriptors (EMFILE: its RLIMIT_NOFILE; ENFILE:
 * the system's) cannot take another call: that is the node's capacity, like a realm out of ports or a
 * socket the kernel will not watch, and the addon says so (SBC_ERR_MEDIA_NATIVE_CAPACITY, which the
 * media pod answers `load limit`). It used to throw the plain SBC_ERR_MEDIA_NATIVE "socket() failed",
 * which the media pod answered "cannot bind ADDR:PORT: socket() failed" (a refused call, offered
 * again by signalling's busy-port retry). Real: a child process whose descriptor limit (soft and
 * hard, so Node cannot raise it) is low, the real addon, UDP on loopback.
 */

const CHILD = `
const addon = require(process.argv[1])
const r = addon.relayCreate(1)
addon.relayStart(r)
const legs = []
const out = {}
try {
  for (;;) legs.push(addon.relayBind(r, '127.0.0.1', 0, 0).leg)
} catch (e) {
  out.refused = e.code + ': ' + e.message
}
out.bound = legs.length
// One leg given back: the next bind takes its place.
addon.relayClose(r, legs.pop())
try {
  legs.push(addon.relayBind(r, '127.0.0.1', 0, 0).leg)
  out.afterClose = 'bound'
} catch (e) {
  out.afterClose = e.code + ': ' + e.message
}
for (const l of legs) addon.relayClose(r, l)
addon.relayStop(r)
process.stdout.write(JSON.stringify(out))
`

describe('native relay: a process out of file descriptors', function () {
  this.timeout(60_000)
  before(() => {
    buildMediaAddon()
  })

  it('refuses the bind as capacity (SBC_ERR_MEDIA_NATIVE_CAPACITY), and binds again once a leg is closed', () => {
    // `ulimit -n` in sh sets the soft and the hard limit; Node raises only the soft one to the hard.
    const r = spawnSync(
      'sh',
      ['-c', 'ulimit -n 128 && exec "$0" "$@"', process.execPath, '-e', CHILD, MEDIA_ADDON_PATH],
      { encoding: 'utf8', timeout: 30_000 },
    )
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.ok(out.bound > 10, `legs bound before the limit: ${out.bound}`)
    assert.equal(
      out.refused,
      'SBC_ERR_MEDIA_NATIVE_CAPACITY: socket() failed: Too many open files (RLIMIT_NOFILE)',
    )
    assert.equal(out.afterClose, 'bound')
  })
})
