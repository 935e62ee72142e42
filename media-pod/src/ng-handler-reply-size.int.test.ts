import { strict as assert } from 'node:assert'
import { createSocket, type Socket } from 'node:dgram'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import { NgRemoteError } from '../../lib/media/control/errors.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import { NgServerTransport } from '../../lib/media/control/ng-server-transport.ts'

/**
 * An offer whose reply would not fit in one NG datagram (65,507 octets over IPv4): the request fits,
 * but our rewrite adds a=crypto keys and ICE attributes to each section. The client gets an error
 * reply, and the offer is undone: a new call leaves no session and no port behind (it would have
 * held them for the hour of the offer timeout), a re-offer leaves the call as it was — its added
 * section's ports released, its parties' addresses unchanged (RTP still relayed between the first
 * addresses). The real handler behind the real NG UDP transport, a real client; native relay when
 * built, and the dgram relay; loopback only.
 */

/** An SDP of `sections` audio sections padded with an unknown attribute to about `bytes` octets. */
function bigSdp(port: number, sections: number, bytes: number): string {
  const head = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0']
  const media = (i: number) => [`m=audio ${port + 2 * i} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv']
  const plain = [...head, ...Array.from({ length: sections }, (_, i) => media(i)).flat(), ''].join('\r\n')
  const padLines = Math.max(0, Math.floor((bytes - plain.length) / 1002))
  const pad = Array.from({ length: padLines }, () => `a=x-pad:${'p'.repeat(992)}`)
  return [...head, ...pad, ...Array.from({ length: sections }, (_, i) => media(i)).flat(), ''].join('\r\n')
}

const savpIce = { 'transport protocol': 'RTP/SAVP', ICE: 'force', 'ICE-lite': 'both' }

const rtp = (seq: number) => {
  const p = Buffer.alloc(172)
  p[0] = 0x80
  p.writeUInt16BE(seq, 2)
  p.writeUInt32BE(0x5ca1e, 8)
  return p
}

async function udp(): Promise<{ socket: Socket; port: number; received: Buffer[] }> {
  const socket = createSocket('udp4')
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()))
  const received: Buffer[] = []
  socket.on('message', (m) => received.push(m))
  return { socket, port: socket.address().port, received }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20))
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

for (const backend of ['native', 'dgram'] as const) {
  describe(`media pod NG offer: a reply too large for one datagram undoes the offer (${backend})`, function () {
    this.timeout(30_000)
    const { allocator, handler, close } = loopbackNgHandler({ ports: 200, mediaTimeoutMs: 0, backend })
    let transport: NgServerTransport
    let ng: NgClient
    const sockets: Socket[] = []

    before(async () => {
      transport = await NgServerTransport.listen({ host: '127.0.0.1', port: 0, handler })
      ng = await NgClient.connect({ host: '127.0.0.1', port: transport.address().port, retransmitMs: 200 })
    })
    after(async () => {
      for (const s of sockets) s.close()
      await ng?.close()
      await transport?.close()
      await close()
    })

    const refused = async (p: Promise<unknown>) => {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof NgRemoteError, String(e))
        assert.match(e.reason, /does not fit in one datagram/)
        return true
      })
    }

    it('a new call: error reply, no session, every port back', async () => {
      const sdp = bigSdp(4000, 8, 64_000)
      const errorsBefore = handler.totals.errors
      await refused(ng.offer({ 'call-id': `big-${backend}`, 'from-tag': 'a', sdp, ...savpIce }))
      assert.deepEqual((await ng.list()).calls, [])
      await assert.rejects(ng.query({ 'call-id': `big-${backend}` }), NgRemoteError)
      assert.equal(handler.sessionCount, 0)
      assert.equal(allocator.counts().inUse, 0)
      assert.equal(handler.totals.errors, errorsBefore + 1)
      // The same offer without the additions fits, and makes the call.
      const ok = await ng.offer({ 'call-id': `big-${backend}`, 'from-tag': 'a', sdp })
      assert.equal(ok.result, 'ok')
      await ng.delete({ 'call-id': `big-${backend}` })
      assert.equal(allocator.counts().inUse, 0)
    })

    it('a re-offer: error reply, the call as it was (ports, addresses, relaying)', async () => {
      const a = await udp()
      const b = await udp()
      const moved = await udp()
      sockets.push(a.socket, b.socket, moved.socket)
      const callId = `big-re-${backend}`
      const small = (port: number) => bigSdp(port, 1, 0)
      const offer = await ng.offer({ 'call-id': callId, 'from-tag': 'ta', sdp: small(a.port) })
      const answer = await ng.answer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: small(b.port),
      })
      const toA = Number(/m=audio (\d+)/.exec(answer.sdp)?.[1])
      const toB = Number(/m=audio (\d+)/.exec(offer.sdp)?.[1])
      const before = JSON.stringify(await ports(ng, callId))
      const inUse = allocator.counts().inUse

      // A re-offer from a new address that adds seven sections, whose reply is too large.
      await refused(
        ng.offer({ 'call-id': callId, 'from-tag': 'ta', sdp: bigSdp(moved.port, 8, 64_000), ...savpIce }),
      )
      assert.equal(JSON.stringify(await ports(ng, callId)), before, 'the same sections and ports')
      assert.equal(allocator.counts().inUse, inUse, "the added sections' ports released")

      // The relay still sends to A's and B's first addresses, in plain RTP.
      b.socket.send(rtp(1), toB, '127.0.0.1')
      a.socket.send(rtp(2), toA, '127.0.0.1')
      await until(() => a.received.length === 1 && b.received.length === 1, 'RTP both ways')
      assert.equal(a.received[0]?.readUInt16BE(2), 1)
      assert.equal(b.received[0]?.readUInt16BE(2), 2)
      assert.equal(moved.received.length, 0)
      await ng.delete({ 'call-id': callId })
      assert.equal(allocator.counts().inUse, 0)
    })
  })
}

/** Per tag, each section's local and advertised endpoint, from `query`. */
async function ports(ng: NgClient, callId: string): Promise<unknown> {
  const q = (await ng.query({ 'call-id': callId })) as unknown as {
    tags: Record<string, { medias: { streams: Record<string, unknown>[] }[] }>
  }
  return Object.fromEntries(
    Object.entries(q.tags).map(([tag, t]) => [
      tag,
      t.medias.map((m) =>
        m.streams.map((s) => [s['local port'], s['advertised endpoint'], s['crypto suite']]),
      ),
    ]),
  )
}
