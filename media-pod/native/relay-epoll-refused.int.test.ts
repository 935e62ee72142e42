import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { buildMediaAddon } from './build.ts'
import { Latch, MEDIA_ADDON_PATH } from './media-addon.ts'
import { buildEpollShim } from './test-epoll-shim.ts'

/*
 * When the kernel refuses to watch a relay socket (epoll_ctl ADD: ENOMEM, or ENOSPC past
 * fs.epoll.max_user_watches), a bind fails with a clear capacity error and frees its slot, and a
 * move leaves the pair where it was, still relaying — before, both went on with a socket no thread
 * would ever read. The refusal is the one seam with a stand-in (test-epoll-shim.ts: an LD_PRELOAD
 * epoll_ctl, in a child process, refusing while KSBC_TEST_EPOLL_REFUSE is set). Everything else is
 * the real addon, real threads and real UDP on loopback. What the media pod answers an NG client
 * then: e2e/media/relay-capacity.int.test.ts.
 */

const CHILD = `
const dgram = require('node:dgram')
const { once } = require('node:events')
const addon = require(process.argv[1])
const LATCH_OFF = Number(process.argv[2])
const refusing = (on) => {
  if (on) process.env.KSBC_TEST_EPOLL_REFUSE = '1'
  else delete process.env.KSBC_TEST_EPOLL_REFUSE
}
const legsPerWorker = (r) => {
  const o = new Float64Array(8)
  addon.relayWorkerStats(r, o)
  return [o[3], o[7]]
}
const udp = async () => {
  const s = dgram.createSocket('udp4')
  s.bind(0, '127.0.0.1')
  await once(s, 'listening')
  return s
}
;(async () => {
  const out = {}
  const r = addon.relayCreate(2)
  addon.relayStart(r)
  refusing(true)
  try {
    addon.relayBind(r, '127.0.0.1', 0, 0)
    out.bind = 'bound'
  } catch (e) {
    out.bind = e.code + ': ' + e.message
  } finally {
    refusing(false)
  }
  out.legsAfterRefusedBind = legsPerWorker(r)
  const a = addon.relayBind(r, '127.0.0.1', 0, 0)
  const b = addon.relayBind(r, '127.0.0.1', 0, 0)
  out.firstLeg = a.leg
  addon.relayConnect(r, a.leg, b.leg)
  addon.relayConnect(r, b.leg, a.leg)
  const [pa, pb] = [await udp(), await udp()]
  addon.relaySetPeer(r, a.leg, '127.0.0.1', pa.address().port, LATCH_OFF)
  addon.relaySetPeer(r, b.leg, '127.0.0.1', pb.address().port, LATCH_OFF)
  const through = async (text) => {
    const got = once(pb, 'message', { signal: AbortSignal.timeout(5000) })
    const rtp = Buffer.alloc(20)
    rtp[0] = 0x80
    rtp.write(text, 12)
    pa.send(rtp, a.port, '127.0.0.1')
    const [msg] = await got
    return msg.subarray(12).toString().replace(/\\0+$/, '')
  }
  refusing(true)
  try {
    out.movedWhileRefused = addon.relayMove(r, 0, 1, 10)
  } finally {
    refusing(false)
  }
  out.legsAfterRefusedMove = legsPerWorker(r)
  out.relayedAfterRefusedMove = await through('one')
  out.moved = addon.relayMove(r, 0, 1, 10)
  out.legsAfterMove = legsPerWorker(r)
  out.relayedAfterMove = await through('two')
  addon.relayStop(r)
  addon.relayClose(r, a.leg)
  addon.relayClose(r, b.leg)
  pa.close()
  pb.close()
  process.stdout.write(JSON.stringify(out))
})().catch((e) => {
  process.stderr.write(String(e && e.stack))
  process.exit(1)
})
`

/*
 * A refused bind on a slot never used before, then the relay's end (finalize releases every slot's
 * SRTP references and heap buffers, free ones included): the slot must be as clean as one relayClose
 * freed. MALLOC_PERTURB_ makes glibc fill new allocations with a non-zero byte, so a slot left as
 * realloc handed it out holds pointers that are not NULL (without it, fresh heap is often zero and
 * the fault would hide).
 */
const CHILD_REFUSED_THEN_EXIT = `
const addon = require(process.argv[1])
const r = addon.relayCreate(1)
addon.relayStart(r)
process.env.KSBC_TEST_EPOLL_REFUSE = '1'
try {
  addon.relayBind(r, '127.0.0.1', 0, 0)
  process.stdout.write('bound')
} catch (e) {
  process.stdout.write(e.code)
} finally {
  delete process.env.KSBC_TEST_EPOLL_REFUSE
}
addon.relayStop(r)
`

describe('native relay: the kernel refuses to watch a socket (epoll_ctl ADD)', function () {
  this.timeout(60_000)
  let shim: ReturnType<typeof buildEpollShim> | undefined
  before(() => {
    buildMediaAddon()
    shim = buildEpollShim()
  })
  after(() => shim?.remove())

  it('fails the bind with a clear error and frees the slot; a refused move leaves the pair relaying where it was', () => {
    const r = spawnSync(process.execPath, ['-e', CHILD, MEDIA_ADDON_PATH, String(Latch.off)], {
      encoding: 'utf8',
      env: { ...process.env, LD_PRELOAD: shim?.path },
      timeout: 30_000,
    })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(
      out.bind,
      'SBC_ERR_MEDIA_NATIVE_CAPACITY: epoll_ctl() failed: No space left on device (fs.epoll.max_user_watches)',
    )
    assert.deepEqual(out.legsAfterRefusedBind, [0, 0], 'no leg counted for the refused bind')
    assert.equal(out.firstLeg, 0, "the refused bind's slot is the next one used")
    assert.equal(out.movedWhileRefused, 0, 'nothing moved')
    assert.deepEqual(out.legsAfterRefusedMove, [2, 0], 'the pair stays on worker 0, whole')
    assert.equal(out.relayedAfterRefusedMove, 'one')
    assert.equal(out.moved, 1, 'and moves once the kernel takes the sockets')
    assert.deepEqual(out.legsAfterMove, [0, 2])
    assert.equal(out.relayedAfterMove, 'two')
  })

  it("leaves a never-used slot it refused clean: the relay's finalize at exit frees nothing it did not allocate", () => {
    const r = spawnSync(process.execPath, ['-e', CHILD_REFUSED_THEN_EXIT, MEDIA_ADDON_PATH], {
      encoding: 'utf8',
      env: { ...process.env, LD_PRELOAD: shim?.path, MALLOC_PERTURB_: '165' },
      timeout: 30_000,
    })
    assert.equal(r.stdout, 'SBC_ERR_MEDIA_NATIVE_CAPACITY')
    // Was: SIGSEGV (free or napi_delete_reference of the slot's uninitialised pointers).
    assert.deepEqual([r.status, r.signal], [0, null], r.stderr)
  })
})
