import { strict as assert } from 'node:assert'
import { formatSdesKeyParams, generateSdesKey, parseSdesKeyParams } from '../../lib/media/srtp/sdes.ts'
import {
  audioSdp,
  endpointOf,
  type MediaProcess,
  mediaConfig,
  Peer,
  portBase,
  rtpPacket,
  startMedia,
} from './helpers.ts'
import { Libsrtp } from './libsrtp.ts'

/**
 * RTP on leg A, SRTP on leg B with a libsrtp peer: the media pod terminates SRTP with its own key
 * toward B (never A's, which A does not even have), payloads intact after decryption both ways.
 */
for (const workers of ['1', '0']) {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const) {
    describe(`kube-sbc media: RTP ↔ SRTP (${suite}) with libsrtp (workers=${workers})`, function () {
      this.timeout(30_000)
      let media: MediaProcess
      let srtp: Libsrtp
      const base = portBase(100)
      before(async () => {
        media = await startMedia(mediaConfig([{ name: 'lan', min: base, max: base + 99 }]), [
          '--workers',
          workers,
        ])
        srtp = new Libsrtp()
        await srtp.ready()
      })
      after(async () => {
        srtp?.close()
        await media?.stop()
      })

      it('relays A (RTP) ↔ B (SRTP), payloads intact after decryption', async () => {
        const a = await Peer.open()
        const b = await Peer.open()
        const callId = `srtp-${workers}-${suite}-${Date.now()}`
        const offer = await media.ng.offer({
          'call-id': callId,
          'from-tag': 'a',
          sdp: audioSdp(a.port),
          'transport protocol': 'RTP/SAVP',
          SDES: [`only-${suite}`],
        })
        assert.match(offer.sdp, /m=audio \d+ RTP\/SAVP/)
        const crypto = /a=crypto:(\d+) (\S+) (inline:\S+)/.exec(offer.sdp)
        assert.ok(crypto, offer.sdp)
        assert.equal(crypto[2], suite)
        const ours = parseSdesKeyParams(crypto[3] as string, suite)
        const bKey = generateSdesKey(suite)
        const answer = await media.ng.answer({
          'call-id': callId,
          'from-tag': 'a',
          'to-tag': 'b',
          sdp: audioSdp(b.port, {
            proto: 'RTP/SAVP',
            crypto: [`${crypto[1]} ${suite} ${formatSdesKeyParams(bKey)}`],
          }),
        })
        assert.match(answer.sdp, /m=audio \d+ RTP\/AVP /)
        assert.doesNotMatch(answer.sdp, /a=crypto/)
        const hex = (k: { masterKey: Buffer; masterSalt: Buffer }) =>
          Buffer.concat([k.masterKey, k.masterSalt]).toString('hex')
        assert.ok(
          (await srtp.call({ op: 'session', id: 'in', profile: suite, key: hex(ours), direction: 'inbound' }))
            .ok,
        )
        assert.ok(
          (
            await srtp.call({
              op: 'session',
              id: 'out',
              profile: suite,
              key: hex(bKey),
              direction: 'outbound',
            })
          ).ok,
        )
        const toA = endpointOf(answer.sdp).port
        const toB = endpointOf(offer.sdp).port
        // B first (latching), then A → B.
        for (let i = 0; i < 5; i++) {
          const p = await srtp.call({
            op: 'protect',
            id: 'out',
            packet: rtpPacket(1000 + i, 0, 0xbbbb).toString('hex'),
          })
          await b.send(Buffer.from(p.packet as string, 'hex'), toB)
        }
        await a.waitFor(5)
        assert.deepEqual(a.received[0]?.msg, rtpPacket(1000, 0, 0xbbbb))
        for (let i = 0; i < 5; i++) await a.send(rtpPacket(i, 0, 0xaaaa), toA)
        await b.waitFor(5)
        for (const [i, r] of b.received.entries()) {
          const plain = await srtp.call({ op: 'unprotect', id: 'in', packet: r.msg.toString('hex') })
          assert.ok(plain.ok, plain.error)
          assert.deepEqual(Buffer.from(plain.packet as string, 'hex'), rtpPacket(i, 0, 0xaaaa))
        }
        // A forged packet toward the SRTP leg is dropped and counted.
        const forged = Buffer.from(
          (await srtp.call({ op: 'protect', id: 'out', packet: rtpPacket(2000, 0, 0xbbbb).toString('hex') }))
            .packet as string,
          'hex',
        )
        forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0xff
        await b.send(forged, toB)
        await new Promise((r) => setTimeout(r, 200))
        assert.equal(a.received.length, 5)
        const q = await media.ng.query({ 'call-id': callId })
        const stats = (
          q.tags as Record<string, { medias: { streams: { stats: Record<string, number> }[] }[] }>
        ).b?.medias[0]?.streams[0]?.stats
        assert.equal(stats?.['auth failures'], 1)
        await media.ng.delete({ 'call-id': callId })
        a.close()
        b.close()
      })
    })
  }
}
