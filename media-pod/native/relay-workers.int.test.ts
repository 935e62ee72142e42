import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { SrtpContext } from '../../lib/media/srtp/context.ts'
import { generateSdesKey } from '../../lib/media/srtp/sdes.ts'
import type { SrtpSuiteName } from '../../lib/media/srtp/suites.ts'
import { buildAndLoadMediaAddon } from './build.ts'
import { Latch, MEDIA_ADDON_PATH, type MediaAddon } from './media-addon.ts'
import { NativeRelay, type RelayLeg } from './native-relay.ts'
import { rtp } from './test-packets.ts'
import { testSockets } from './test-sockets.ts'

/* A relay with several packet threads: legs bound on a worker stay there, pairs move between workers
 * while packets flow (SRTP state, counters and peers with them), and each worker's counters say what it
 * carried. Loopback (127.0.0.1) only. */

describe('native relay with several workers', function () {
  this.timeout(60_000)
  let addon: MediaAddon
  const { udp, next, close } = testSockets()
  before(() => {
    addon = buildAndLoadMediaAddon()
  })
  after(close)

  it('moves an SRTP pair to another worker mid-stream: every packet arrives, keys and counters go along', async () => {
    const suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80'
    const relay = new NativeRelay(addon, 2)
    const a = relay.bind('127.0.0.1', 0, 1)
    const b = relay.bind('127.0.0.1', 0, 1)
    relay.connect(a, b)
    relay.connect(b, a)
    const [peerA, peerB] = [await udp(), await udp()]
    const kToB = { suite, ...generateSdesKey(suite) }
    relay.setSrtp(b, null, kToB)
    relay.setPeer(a, { address: '127.0.0.1', port: peerA.address().port }, Latch.off)
    relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
    relay.start()
    try {
      // Each packet thread carries its name (top -H, perf sched).
      const names = readdirSync('/proc/self/task').map((t) => {
        try {
          return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim()
        } catch {
          return '' // the thread ended between readdir and read
        }
      })
      assert.ok(names.includes('ksbc-relay-0') && names.includes('ksbc-relay-1'), names.join(','))
      const bRx = SrtpContext.fromMasterKey(suite, kToB.masterKey, kToB.masterSalt)
      const send = async (seq: number) => {
        peerA.send(rtp(seq, 0xa), a.port, '127.0.0.1')
        assert.deepEqual(bRx.unprotect((await next(peerB))[0]), rtp(seq, 0xa))
      }
      for (const seq of [1, 2, 3]) await send(seq)
      let w = relay.workerStats()
      assert.deepEqual(
        w.map((x) => [x.packets, x.legs]),
        [
          [0, 0],
          [3, 2],
        ],
      )
      assert.equal(relay.move(1, 0, 10), 1, 'one connected pair')
      // The receiver's replay window and rollover state continue: the sender's SRTP context moved too.
      for (const seq of [4, 5, 6]) await send(seq)
      w = relay.workerStats()
      assert.deepEqual(
        w.map((x) => [x.packets, x.legs]),
        [
          [3, 2],
          [3, 0],
        ],
      )
      assert.ok(w[0] && w[0].wakeups >= 1 && w[0].cpuNs > 0, 'worker 0 woke and ran')
      const s = relay.stats(a)
      assert.equal(s.packetsIn, 6, 'the leg counters moved with the leg')
      assert.equal(relay.stats(b).packetsOut, 6)
      // Back again, and the other direction too.
      assert.equal(relay.move(0, 1, 10), 1)
      peerB.send(rtp(7, 0xb), b.port, '127.0.0.1')
      // b has no inbound SRTP: plain RTP from B is relayed plain to A.
      assert.deepEqual((await next(peerA))[0], rtp(7, 0xb))
      await send(8)
      assert.deepEqual(
        relay.workerStats().map((x) => x.legs),
        [0, 2],
      )
    } finally {
      relay.stop()
      relay.close(a)
      relay.close(b)
    }
    assert.deepEqual(
      relay.workerStats().map((x) => x.legs),
      [0, 0],
      'closed legs leave their worker',
    )
  })

  it('moves only pairs with recent media when asked, and everything when not', async () => {
    const relay = new NativeRelay(addon, 2)
    const legs = Array.from({ length: 4 }, () => relay.bind('127.0.0.1', 0, 0))
    const [a1, b1, a2, b2] = legs as [(typeof legs)[0], (typeof legs)[0], (typeof legs)[0], (typeof legs)[0]]
    relay.connect(a1, b1)
    relay.connect(b1, a1)
    relay.connect(a2, b2)
    relay.connect(b2, a2)
    const sink = await udp()
    for (const l of legs) relay.setPeer(l, { address: '127.0.0.1', port: sink.address().port }, Latch.off)
    relay.start()
    try {
      const src = await udp()
      src.send(rtp(1, 1), a2.port, '127.0.0.1')
      await next(sink)
      assert.equal(relay.move(0, 1, 10, true), 1, 'only the pair that carried media')
      assert.deepEqual(
        relay.workerStats().map((x) => x.legs),
        [2, 2],
      )
      src.send(rtp(2, 1), a2.port, '127.0.0.1')
      await next(sink)
      assert.deepEqual(
        relay.workerStats().map((x) => x.packets),
        [1, 1],
        'the moved pair is carried by worker 1',
      )
      assert.equal(relay.move(0, 1, 10), 1, 'the idle pair')
      assert.equal(relay.move(0, 1, 10), 0, 'nothing left')
      assert.equal(relay.move(1, 1, 10), 0, 'a move onto itself moves nothing')
    } finally {
      relay.stop()
      for (const l of legs) relay.close(l)
    }
  })

  it('moves a chain of legs whole: a leg whose target sends on to a third leg keeps relaying', async () => {
    // a -> b -> c: what arrives on a leaves through b, what arrives on b leaves through c (b does not
    // send back to a). relayConnect allows it; a move must not leave b -> c across two workers.
    const relay = new NativeRelay(addon, 2)
    const [a, b, c] = [0, 1, 2].map(() => relay.bind('127.0.0.1', 0, 0)) as [RelayLeg, RelayLeg, RelayLeg]
    relay.connect(a, b)
    relay.connect(b, c)
    const [peerB, peerC, src] = [await udp(), await udp(), await udp()]
    relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
    relay.setPeer(c, { address: '127.0.0.1', port: peerC.address().port }, Latch.off)
    relay.start()
    try {
      src.send(rtp(1, 1), b.port, '127.0.0.1')
      assert.deepEqual((await next(peerC))[0], rtp(1, 1))
      assert.equal(relay.move(0, 1, 1), 1, 'one connected group')
      assert.deepEqual(
        relay.workerStats().map((x) => x.legs),
        [0, 3],
        'all three legs on worker 1',
      )
      src.send(rtp(2, 1), b.port, '127.0.0.1')
      assert.deepEqual((await next(peerC))[0], rtp(2, 1), 'b -> c still relays')
      src.send(rtp(3, 1), a.port, '127.0.0.1')
      assert.deepEqual((await next(peerB))[0], rtp(3, 1), 'a -> b still relays')
      // Back with activeOnly, a gone: b -> c is still one group, active through b.
      relay.close(a)
      assert.equal(relay.move(1, 0, 1, true), 1, 'b carried media in the last second')
      assert.deepEqual(
        relay.workerStats().map((x) => x.legs),
        [2, 0],
      )
      src.send(rtp(4, 1), b.port, '127.0.0.1')
      assert.deepEqual((await next(peerC))[0], rtp(4, 1))
    } finally {
      relay.stop()
      relay.close(b)
      relay.close(c)
    }
  })

  it('refuses to create a relay when a worker cannot get its epoll set and eventfd', () => {
    // A child process with at most 64 descriptors uses them all, then frees 3: worker 0's epoll set and
    // eventfd and worker 1's epoll set fit, worker 1's eventfd does not (EMFILE).
    const child = `
      const fs = require('node:fs')
      const addon = require(process.argv[1])
      process.stdout
      const held = []
      for (let i = 0; i < 100; i++) {
        try { held.push(fs.openSync('/dev/null', 'r')) } catch { break }
      }
      for (const fd of held.splice(0, 3)) fs.closeSync(fd)
      let out
      try { addon.relayCreate(2); out = 'created' } catch (e) { out = 'refused: ' + e.message }
      for (const fd of held) fs.closeSync(fd)
      process.stdout.write(out)`
    const r = spawnSync(
      'sh',
      ['-c', 'ulimit -n 64 && exec "$0" -e "$1" "$2"', process.execPath, child, MEDIA_ADDON_PATH],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(r.status, 0, r.stderr)
    // Before: 'created', a relay whose worker 1 had no eventfd (and, one descriptor fewer, no epoll set:
    // legs bound on it were never read).
    assert.match(r.stdout, /^refused: cannot create the relay/)
  })

  it('takes a flooded socket in rounds, so the other sockets of its worker are not held up', async () => {
    const relay = new NativeRelay(addon, 1)
    const [a1, b1, a2, b2] = [0, 1, 2, 3].map(() => relay.bind('127.0.0.1'))
    relay.connect(a1 as RelayLeg, b1 as RelayLeg)
    relay.connect(a2 as RelayLeg, b2 as RelayLeg)
    const sink = await udp()
    const got: number[] = []
    sink.on('message', (m: Buffer) => got.push(m.readUInt32BE(8)))
    for (const l of [b1, b2])
      relay.setPeer(l as RelayLeg, { address: '127.0.0.1', port: sink.address().port }, Latch.off)
    const src = await udp()
    const small = (seq: number, ssrc: number) => rtp(seq, ssrc).subarray(0, 16) // small: the sink's buffer holds all
    const sent = (b: Buffer, port: number) =>
      new Promise<void>((ok, fail) => src.send(b, port, '127.0.0.1', (e) => (e ? fail(e) : ok())))
    // 200 datagrams wait on a1, then one on a2, before the worker runs.
    for (let i = 0; i < 200; i++) await sent(small(i, 1), (a1 as RelayLeg).port)
    await sent(small(0, 2), (a2 as RelayLeg).port)
    relay.start()
    try {
      const end = Date.now() + 5000
      while (got.length < 201 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
      assert.equal(got.length, 201)
      // a1 first (it became readable first), 4 batches of 32 at the most, then a2's datagram.
      assert.equal(got.indexOf(2), 128)
    } finally {
      relay.stop()
      for (const l of [a1, b1, a2, b2]) relay.close(l as RelayLeg)
    }
  })

  it('refuses what would split a pair or name a worker it does not have', () => {
    const relay = new NativeRelay(addon, 2)
    const a = relay.bind('127.0.0.1', 0, 0)
    const b = relay.bind('127.0.0.1', 0, 1)
    try {
      assert.throws(() => relay.connect(a, b), /different relay workers/)
      assert.throws(() => relay.bind('127.0.0.1', 0, 2), /no such relay worker/)
      assert.throws(() => relay.move(0, 2, 1), /no such relay worker/)
      assert.throws(() => new NativeRelay(addon, 0), /workers must be 1-64/)
      assert.throws(() => new NativeRelay(addon, 65), /workers must be 1-64/)
      assert.equal(relay.workerStats().length, 2)
    } finally {
      relay.close(a)
      relay.close(b)
    }
  })
})
