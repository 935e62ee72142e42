import { strict as assert } from 'node:assert'
import { audioSdp, endpointOf, Peer, rtpPacket } from '../../e2e/media/helpers.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'
import { PortAllocator } from '../../lib/media/relay/port-allocator.ts'
import { portBase } from '../../test/harness/port-base.ts'
import { MediaNgHandler, type RealmRuntime } from './ng-handler.ts'
import { DgramRelayBackend } from './relay/dgram-relay.ts'

/**
 * Two realms on different addresses (127.0.0.1 and 127.0.0.2) may use the same port numbers. A
 * re-offer that adds a section and then fails (here: its reply would not fit in one NG datagram) is
 * undone: what it allocated goes back, and the call's existing sections stay — also one whose port
 * number the failed offer happened to get in the other realm. Real handler, allocators and dgram
 * relay; loopback only.
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }

/**
 * Audio, and video with a padding attribute: an SDP just below the parser's 65,535 octets, whose
 * rewrite (SRTP keys, ICE attributes) does not fit in one NG datagram.
 */
const audioVideoPadded = (port: number) =>
  audioSdp(port, { codecs: '0' }).replace(
    /\r\n$/,
    `\r\nm=video ${port + 2} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=x-pad:${'p'.repeat(65_000)}\r\n`,
  )

describe('media pod NG handler: a failed re-offer keeps the sections of another realm with the same port', function () {
  this.timeout(20_000)
  const base = portBase(6)
  const realm = (name: string, bindAddress: string): [string, RealmRuntime] => [
    name,
    {
      name,
      bindAddress,
      advertisedAddress: bindAddress,
      allocator: new PortAllocator({ min: base, max: base + 5 }, { quarantineMs: 0 }),
      maxSessions: 10,
    },
  ]
  const realms = new Map([realm('a', '127.0.0.1'), realm('b', '127.0.0.2')])
  const fallback = new DgramRelayBackend()
  const handler = new MediaNgHandler({ realms, defaultRealm: 'a', native: null, fallback, mediaTimeoutMs: 0 })
  const req = (r: Record<string, unknown>) =>
    handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>
  const call = async (id: string, direction: string[], a: Peer, b: Peer) => {
    const offer = await req({
      command: 'offer',
      'call-id': id,
      'from-tag': 'x',
      direction,
      sdp: audioSdp(a.port),
    })
    const answer = await req({
      command: 'answer',
      'call-id': id,
      'from-tag': 'x',
      'to-tag': 'y',
      sdp: audioSdp(b.port),
    })
    return { toB: endpointOf(offer.sdp), toA: endpointOf(answer.sdp) }
  }
  after(async () => {
    handler.close()
    await fallback.close()
  })

  it('undoes the re-offer and A and B still talk over the audio section', async () => {
    const [a1, b1, a, b] = [await Peer.open(), await Peer.open(), await Peer.open(), await Peer.open()]
    try {
      // Call 1 takes realm b's first two pairs; call 2 has A in realm a (first pair) and B in b
      // (third pair); call 1 ends, so realm b's next allocation wraps round to its first pair: the
      // same port number as A's audio in realm a.
      await call('one', ['b', 'b'], a1, b1)
      const two = await call('two', ['a', 'b'], a, b)
      assert.deepEqual(two.toA, { address: '127.0.0.1', port: base })
      assert.equal(two.toB.address, '127.0.0.2')
      await req({ command: 'delete', 'call-id': 'one', 'from-tag': 'x' })
      await assert.rejects(
        req({
          command: 'offer',
          'call-id': 'two',
          'from-tag': 'x',
          'to-tag': 'y',
          sdp: audioVideoPadded(a.port),
          'transport protocol': 'RTP/SAVP',
          ICE: 'force',
        }),
        /does not fit in one datagram/,
      )
      // The call is as it was: audio both ways, through the same relay ports.
      const q = (await req({ command: 'query', 'call-id': 'two' })) as unknown as {
        tags: Record<string, { medias: unknown[] }>
      }
      assert.equal(q.tags.x?.medias.length, 1, 'A keeps its audio section')
      assert.equal(q.tags.y?.medias.length, 1, 'B keeps its audio section')
      await a.send(rtpPacket(1), two.toA.port, two.toA.address)
      await b.waitFor(1)
      await b.send(rtpPacket(2), two.toB.port, two.toB.address)
      await a.waitFor(1)
      assert.equal(realms.get('a')?.allocator.counts().inUse, 2, "realm a: only A's audio pair")
      assert.equal(realms.get('b')?.allocator.counts().inUse, 2, "realm b: only B's audio pair")
    } finally {
      for (const p of [a1, b1, a, b]) p.close()
    }
  })
})
