import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { buildMediaAddon } from '../native/build.ts'

/**
 * A media pod out of file descriptors (EMFILE: its RLIMIT_NOFILE) cannot take another call: the
 * node's capacity, like a realm out of ports, so an NG client that `supports` it gets `load limit`
 * (it tries another media pod) and signalling a reason it reads as capacity (503, not offered again
 * to the same pod), on either relay. Before, both said "cannot bind ADDR:PORT: …": an error, and a
 * reason signalling's busy-port retry offered twice more. Real: a child process whose descriptor limit
 * (soft and hard: Node raises only the soft one) is low, the real handler, allocator and relays.
 */

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url))

const CHILD = `
import { audioSdp } from ${JSON.stringify(root('e2e/media/helpers.ts'))}
import { loopbackNgHandler } from ${JSON.stringify(root('e2e/media/loopback-ng-handler.ts'))}
const backend = process.argv[1]
const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }
// The realm takes 50 sessions (loopbackRealm): far more sockets than the limit leaves.
const { handler, allocator, close } = loopbackNgHandler({ ports: 400, backend, mediaTimeoutMs: 0 })
const out = {}
for (let i = 0; i < 50; i++) {
  const req = { command: 'offer', 'call-id': 'c' + i, 'from-tag': 'a', sdp: audioSdp(5000) }
  const r = await handler
    .handle({ ...req, supports: ['load limit'] }, ctx)
    .catch((e) => ({ result: 'thrown', message: e.code + ': ' + e.message }))
  if (r.result === 'ok') continue
  out.accepted = i
  out.limited = [r.result, r.message]
  try {
    await handler.handle({ ...req, 'call-id': 'plain' }, ctx)
  } catch (e) {
    out.plain = [e.code, e.message]
  }
  out.sessions = handler.sessionCount
  out.portsInUse = allocator.counts().inUse
  break
}
await close()
process.stdout.write(JSON.stringify(out))
`

for (const backend of ['native', 'dgram'] as const) {
  describe(`media pod out of file descriptors (${backend} relay)`, function () {
    this.timeout(60_000)
    before(() => {
      if (backend === 'native') buildMediaAddon()
    })

    it('answers `load limit` (and a "load limit" error to a client that does not support it), keeping nothing of the refused offer', () => {
      const r = spawnSync(
        'sh',
        [
          '-c',
          'ulimit -n 128 && exec "$0" "$@"',
          process.execPath,
          '--input-type=module',
          '-e',
          CHILD,
          backend,
        ],
        { encoding: 'utf8', timeout: 30_000, cwd: root('.') },
      )
      assert.equal(r.status, 0, r.stderr)
      const out = JSON.parse(r.stdout)
      assert.ok(out.accepted > 3, `calls taken before the limit: ${out.accepted}`)
      const socket = backend === 'native' ? /socket\(\) failed: Too many open files/ : /EMFILE/
      assert.equal(out.limited[0], 'load limit')
      assert.match(out.limited[1], socket)
      assert.equal(out.plain[0], 'SBC_ERR_MEDIA_CAPACITY')
      assert.match(out.plain[1], /^load limit: the relay cannot take another socket on 127\.0\.0\.1: /)
      assert.match(out.plain[1], socket)
      assert.equal(out.sessions, out.accepted, 'the refused offers left no session')
      assert.equal(out.portsInUse, 4 * out.accepted, 'nor any port')
    })
  })
}
