import { strict as assert } from 'node:assert'
import { audioSdp, endpointOf, Peer, rtpPacket } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import { NgRemoteError } from '../../lib/media/control/errors.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import type { NgResponse } from '../../lib/media/control/ng-message.ts'
import { NgServerTransport } from '../../lib/media/control/ng-server-transport.ts'
import { SrtpContext } from '../../lib/media/srtp/context.ts'
import { formatSdesKeyParams, generateSdesKey, parseSdesKeyParams } from '../../lib/media/srtp/sdes.ts'

/**
 * Which a=crypto line of a party the handler keys with (RFC 4568 §7.1: the answerer picks one it can
 * use). The relays know no MKI (RFC 3711 §3.1: then every packet of the party carries it and fails
 * authentication here), nor UNENCRYPTED_SRTP and its kin, and a key that does not decode cannot be
 * used at all: such lines are passed over for the next, and an SRTP offer with none left is refused
 * at once instead of ringing the callee and failing its answer. Real handler, allocator and relay
 * (native when built, else dgram) behind the NG server, a real NG client; SRTP checked on the wire,
 * loopback only.
 */

const SUITE = 'AES_CM_128_HMAC_SHA1_80'
const key = () => formatSdesKeyParams(generateSdesKey(SUITE))

describe('media pod NG handler: usable a=crypto lines (SDES)', function () {
  this.timeout(20_000)
  const { allocator, handler, close } = loopbackNgHandler({ ports: 100, mediaTimeoutMs: 0 })
  let ng: NgServerTransport
  let client: NgClient
  /** The reply dictionary, error replies included (the client throws those). */
  const req = async (r: Record<string, unknown>): Promise<NgResponse> => {
    try {
      return await client.request(r)
    } catch (e) {
      if (e instanceof NgRemoteError) return { result: 'error', 'error-reason': e.reason }
      throw e
    }
  }
  const peers: Peer[] = []

  before(async () => {
    ng = await NgServerTransport.listen({ host: '127.0.0.1', port: 0, handler })
    client = await NgClient.connect({ host: '127.0.0.1', port: ng.address().port })
  })

  afterEach(async () => {
    for (const p of peers.splice(0)) p.close()
    handler.deleteAll()
  })
  after(async () => {
    await client?.close()
    await ng?.close()
    await close()
  })

  it('passes over lines with an MKI or UNENCRYPTED_SRTP and keys with the first usable one, both ways', async () => {
    const a = await Peer.open()
    const b = await Peer.open()
    peers.push(a, b)
    const aKey = generateSdesKey(SUITE)
    const offer = await req({
      command: 'offer',
      'call-id': 'mki',
      'from-tag': 'a',
      'transport protocol': 'RTP/AVP',
      sdp: audioSdp(a.port, {
        proto: 'RTP/SAVP',
        codecs: '0',
        crypto: [
          `1 ${SUITE} ${key()}|2^20|1:4`,
          `2 ${SUITE} ${key()} UNENCRYPTED_SRTP`,
          `3 ${SUITE} ${formatSdesKeyParams(aKey)}|2^31`,
        ],
      }),
    })
    assert.equal(offer.result, 'ok', JSON.stringify(offer))
    const answer = await req({
      command: 'answer',
      'call-id': 'mki',
      'from-tag': 'a',
      'to-tag': 'b',
      sdp: audioSdp(b.port, { codecs: '0' }),
    })
    assert.equal(answer.result, 'ok', JSON.stringify(answer))
    const toA = answer.sdp as string
    const picked = /a=crypto:(\d+) (\S+) (inline:\S+)/.exec(toA)
    assert.ok(picked, toA)
    assert.equal(picked[1], '3', 'the answer takes the tag of the first usable line')
    assert.equal(picked[2], SUITE)
    assert.doesNotMatch(picked[3] as string, /\|\d+:\d+$/, 'our key toward A carries no MKI')

    // A → B: A protects with its tag-3 key; B gets the plain RTP.
    const aOut = SrtpContext.fromMasterKey(SUITE, aKey.masterKey, aKey.masterSalt)
    const ourPortForA = endpointOf(toA).port
    for (let i = 0; i < 3; i++) await a.send(aOut.protect(rtpPacket(100 + i, 0, 0xaaaa)), ourPortForA)
    await b.waitFor(3)
    assert.deepEqual(
      b.received.map((r) => r.msg),
      [0, 1, 2].map((i) => rtpPacket(100 + i, 0, 0xaaaa)),
    )
    // B → A: A decrypts with the key of our answer.
    const ours = parseSdesKeyParams(picked[3] as string, SUITE)
    const aIn = SrtpContext.fromMasterKey(SUITE, ours.masterKey, ours.masterSalt)
    for (let i = 0; i < 3; i++)
      await b.send(rtpPacket(200 + i, 0, 0xbbbb), endpointOf(offer.sdp as string).port)
    await a.waitFor(3)
    assert.deepEqual(
      a.received.map((r) => aIn.unprotect(r.msg)),
      [0, 1, 2].map((i) => rtpPacket(200 + i, 0, 0xbbbb)),
    )
  })

  it('refuses an SRTP offer whose every a=crypto line is unusable, holding no port', async () => {
    const r = await req({
      command: 'offer',
      'call-id': 'badkey',
      'from-tag': 'a',
      sdp: audioSdp(4000, {
        proto: 'RTP/SAVP',
        crypto: [`1 ${SUITE} inline:AAAA`, `2 ${SUITE} ${key()}|1:4`],
      }),
    })
    assert.equal(r.result, 'error')
    assert.match(String(r['error-reason']), /no usable a=crypto/)
    assert.equal(handler.sessionCount, 0)
    assert.equal(allocator.counts().inUse, 0)
  })

  it("refuses an answer whose a=crypto carries an MKI (the callee's packets could not be authenticated)", async () => {
    const offer = await req({
      command: 'offer',
      'call-id': 'ans-mki',
      'from-tag': 'a',
      'transport protocol': 'RTP/SAVP',
      sdp: audioSdp(4000),
    })
    assert.equal(offer.result, 'ok')
    const tag = /a=crypto:(\d+) (\S+)/.exec(offer.sdp as string)
    assert.ok(tag, offer.sdp as string)
    const r = await req({
      command: 'answer',
      'call-id': 'ans-mki',
      'from-tag': 'a',
      'to-tag': 'b',
      sdp: audioSdp(4002, { proto: 'RTP/SAVP', crypto: [`${tag[1]} ${tag[2]} ${key()}|2^31|1:1`] }),
    })
    assert.equal(r.result, 'error', JSON.stringify(r))
    assert.match(String(r['error-reason']), /MKI/)
    const d = await req({ command: 'delete', 'call-id': 'ans-mki' })
    assert.equal(d.result, 'ok')
    assert.equal(allocator.counts().inUse, 0)
  })
})
