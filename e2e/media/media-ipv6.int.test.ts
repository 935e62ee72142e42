import { strict as assert } from 'node:assert'
import { createSocket, type Socket } from 'node:dgram'
import { loadMediaAddon } from '../../media-pod/native/media-addon.ts'
import { type MediaProcess, mediaConfig, portBase, rtpPacket, startMedia } from './helpers.ts'

/** A UDP socket on ::1 that records what it receives. */
class Peer6 {
  readonly received: { msg: Buffer; port: number }[] = []
  readonly socket: Socket
  port = 0
  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('message', (msg, r) => this.received.push({ msg, port: r.port }))
  }
  static async open(): Promise<Peer6> {
    const s = createSocket('udp6')
    await new Promise<void>((r) => s.bind(0, '::1', () => r()))
    const p = new Peer6(s)
    p.port = s.address().port
    return p
  }
  send(msg: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(msg, port, '::1', (e) => (e ? reject(e) : resolve())),
    )
  }
  async waitFor(n: number, timeoutMs = 3000): Promise<void> {
    const until = Date.now() + timeoutMs
    while (this.received.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    if (this.received.length < n) throw new Error(`received ${this.received.length} of ${n} packets`)
  }
}

/** An audio SDP on ::1 (RFC 4566 §5.7: c=IN IP6). */
const sdp6 = (port: number): string =>
  [
    'v=0',
    'o=peer 1000 1 IN IP6 ::1',
    's=-',
    'c=IN IP6 ::1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n')

const endpoint6 = (sdp: string): { address: string; port: number } => ({
  address: /c=IN IP6 (\S+)/.exec(sdp)?.[1] ?? '',
  port: Number(/m=audio (\d+)/.exec(sdp)?.[1]),
})

/**
 * `kube-sbc media` with IPv6 realms (bindAddress ::1), on the default backend (native worker when
 * built) and on the dgram relay: NG offer/answer, RTP both ways, latching on the real source port.
 */
for (const workers of ['1', '0']) {
  const backend = workers === '0' ? 'dgram' : loadMediaAddon() ? 'native' : 'dgram (addon not built)'
  describe(`kube-sbc media: IPv6 realm (${backend})`, function () {
    this.timeout(60_000)
    let media: MediaProcess
    const base = portBase(200)

    before(async () => {
      const config = mediaConfig([
        { name: 'lan', min: base, max: base + 99 },
        { name: 'wan', min: base + 100, max: base + 199 },
      ])
      media = await startMedia(
        { ...config, realms: config.realms.map((r) => ({ ...r, bindAddress: '::1' })) },
        ['--workers', workers, '--port-quarantine-ms', '0'],
      )
    })
    after(async () => {
      await media?.stop()
    })

    it('relays RTP both ways on ::1, latching on the real source port', async () => {
      const a = await Peer6.open() // A's signalled port
      const aNat = await Peer6.open() // A's real source
      const b = await Peer6.open()
      const callId = `ipv6-${workers}-${Date.now()}`
      try {
        const offer = await media.ng.offer({
          'call-id': callId,
          'from-tag': 'ta',
          sdp: sdp6(a.port),
          direction: ['lan', 'wan'],
        })
        const toB = endpoint6(offer.sdp)
        assert.equal(toB.address, '::1')
        assert.ok(toB.port >= base + 100 && toB.port <= base + 199, `offer port ${toB.port} in wan range`)
        const answer = await media.ng.answer({
          'call-id': callId,
          'from-tag': 'ta',
          'to-tag': 'tb',
          sdp: sdp6(b.port),
        })
        const toA = endpoint6(answer.sdp)
        assert.equal(toA.address, '::1')
        assert.ok(toA.port >= base && toA.port <= base + 99, `answer port ${toA.port} in lan range`)
        for (let i = 0; i < 5; i++) await aNat.send(rtpPacket(i), toA.port)
        await b.waitFor(5)
        assert.equal(b.received[0]?.msg.subarray(12).toString().slice(0, 9), 'payload-0')
        assert.equal(b.received[0]?.port, toB.port, 'B hears the relay from the port offered to it')
        for (let i = 0; i < 5; i++) await b.send(rtpPacket(100 + i, 0, 0x9999), toB.port)
        await aNat.waitFor(5)
        assert.equal(a.received.length, 0, 'nothing goes to the signalled port after latching')
        assert.equal(aNat.received[0]?.port, toA.port)
        assert.equal(aNat.received[0]?.msg.subarray(12).toString().slice(0, 11), 'payload-100')
        await media.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      } finally {
        for (const p of [a, aNat, b]) p.socket.close()
      }
    })
  })
}
