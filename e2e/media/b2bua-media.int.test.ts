import { strict as assert } from 'node:assert'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { formatSdesKeyParams, generateSdesKey, parseSdesKeyParams } from '../../lib/media/srtp/sdes.ts'
import type { SipResponse } from '../../lib/sip/message/message.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import { cdrLines, ok, scenario } from '../b2bua/harness.ts'
import { audioSdp, endpointOf, metric, Peer, rtpPacket } from './helpers.ts'
import { Libsrtp } from './libsrtp.ts'
import { G711A_PCAP, rtpPacketsOf, rtpPayload } from './pcap.ts'
import { eventually, type MediaSbc, mediaPortBase, startMediaSbc } from './sbc-run.ts'
import { SipUa } from './sip-ua.ts'

const here = dirname(fileURLToPath(import.meta.url))
const SUITE = 'AES_CM_128_HMAC_SHA1_80'

/** Renders e2e/media/<name> with `@KEY@` placeholders into a temp file. */
async function render(name: string, vars: Record<string, string>): Promise<string> {
  let text = await readFile(join(here, name), 'latin1')
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@${k}@`, v)
  const file = join(await mkdtemp(join(tmpdir(), 'sbc-media-scn-')), name)
  await writeFile(file, text, 'latin1')
  return file
}

const inRange = (port: number, r: { min: number; max: number }) => port >= r.min && port <= r.max
const bodyOf = (m: { body: Buffer }) => m.body.toString('utf8')

/** Free ports of both realms, as the SBC's /metrics reports them (the media pod is in-process). */
/**
 * Three RTP packets each way through the relay, from the caller's peer to the relay port
 * `pbxSide` (it offered the caller) and from the callee's to `carrierSide`; each peer must then hold
 * the three it was sent (fresh peers: counts from 0).
 */
async function rtpBothWays(pbxRtp: Peer, pbxSide: number, carrierRtp: Peer, carrierSide: number) {
  for (let i = 0; i < 3; i++) await pbxRtp.send(rtpPacket(10 + i, 8, 0xa), pbxSide)
  await carrierRtp.waitFor(3)
  for (let i = 0; i < 3; i++) await carrierRtp.send(rtpPacket(20 + i, 8, 0xb), carrierSide)
  await pbxRtp.waitFor(3)
}

const portsFree = (sbc: MediaSbc) => metric(sbc.http, 'sbc_media_ports_free')
const portsCapacity = (sbc: MediaSbc) => metric(sbc.http, 'sbc_media_ports_capacity')

describe('kube-sbc run: media anchored, SRTP-optional leg (SIPp pcap) ↔ SRTP-mandatory leg (libsrtp)', function () {
  this.timeout(90_000)
  let pbxRange = { min: 0, max: 0 }
  let carrierRange = { min: 0, max: 0 }
  let sbc: MediaSbc
  let srtp: Libsrtp
  let pbxPeerPort: number
  let carrier: SipUa

  before(async () => {
    const base = await mediaPortBase(200)
    pbxRange = { min: base, max: base + 99 }
    carrierRange = { min: base + 100, max: base + 199 }
    pbxPeerPort = await freePort()
    carrier = await SipUa.open(await freePort())
    sbc = await startMediaSbc({
      pbxPeerPort,
      carrierPeerPort: carrier.port,
      pbxRange,
      carrierRange,
      carrierSrtp: 'Mandatory',
      // The pbx's RTP goes to the test's socket named in SIPp's SDP, not back to SIPp's pcap socket.
      pbxSymmetric: false,
    })
    srtp = new Libsrtp()
    await srtp.ready()
  })
  after(async () => {
    srtp?.close()
    carrier?.close()
    await sbc?.close()
  })

  it('G.711 from the pcap arrives decrypted-intact on the SRTP leg, SRTP from libsrtp arrives intact as RTP', async () => {
    const pbxRtp = await Peer.open()
    const carrierRtp = await Peer.open()
    const ourKey = generateSdesKey(SUITE)
    let offerTag = '1'
    carrier.answerWith((req) => {
      if (req.method !== 'INVITE') return undefined
      offerTag = /a=crypto:(\d+) /.exec(bodyOf(req))?.[1] ?? '1'
      const sdp = audioSdp(carrierRtp.port, {
        proto: 'RTP/SAVP',
        codecs: '8 101',
        crypto: [`${offerTag} ${SUITE} ${formatSdesKeyParams(ourKey)}`],
      })
      return { status: 200, sdp }
    })
    const uac = await startSipp({
      scenario: {
        file: await render('sipp-uac-pcap.xml', {
          RTPPORT: String(pbxRtp.port),
          PCAP: G711A_PCAP,
          PAUSE: '9000',
        }),
      },
      target: `127.0.0.1:${sbc.pbx}`,
      transport: 'u1',
      localPort: pbxPeerPort,
      calls: 1,
      timeoutSeconds: 40,
    })
    // The B leg's offer: anchored in the carrier realm, SRTP with the SBC's own key (never SIPp's).
    const invite = await carrier.waitFor(carrier.request('INVITE'), 'INVITE on the carrier leg')
    const offer = bodyOf(invite)
    assert.match(offer, /m=audio \d+ RTP\/SAVP 8 /, offer)
    assert.ok(inRange(endpointOf(offer).port, carrierRange), offer)
    const crypto = /a=crypto:\d+ (\S+) (inline:\S+)/.exec(offer)
    assert.ok(crypto, offer)
    assert.equal(crypto[1], SUITE)
    const sbcKey = parseSdesKeyParams(crypto[2] as string, SUITE)
    await carrier.waitFor(carrier.request('ACK'), 'ACK on the carrier leg')
    const hex = (k: { masterKey: Buffer; masterSalt: Buffer }) => Buffer.concat([k.masterKey, k.masterSalt])
    await srtp.session('from-sbc', SUITE, hex(sbcKey), 'inbound')
    await srtp.session('to-sbc', SUITE, hex(ourKey), 'outbound')

    // Carrier → pbx: libsrtp-protected G.711 toward the SBC's carrier-side port.
    const toSbc = endpointOf(offer).port
    const sent: Buffer[] = []
    for (let i = 0; i < 50; i++) {
      const plain = rtpPacket(7000 + i, 8, 0xcafe, Buffer.alloc(160, (i * 7) & 0xff))
      sent.push(plain)
      await carrierRtp.send(await srtp.protect('to-sbc', plain), toSbc)
      await new Promise((r) => setTimeout(r, 5))
    }
    await pbxRtp.waitFor(50, 10_000)
    assert.deepEqual(
      pbxRtp.received.map((r) => rtpPayload(r.msg)),
      sent.map(rtpPayload),
      'RTP payloads on the pbx leg are the ones libsrtp protected',
    )
    assert.ok(pbxRtp.received.every((r) => (r.msg[1]! & 0x7f) === 8))

    // Pbx → carrier: every pcap packet arrives, and decrypts with the SBC's key to the same payload.
    const pcap = rtpPacketsOf(G711A_PCAP)
    await carrierRtp.waitFor(pcap.length, 20_000)
    const decrypted: Buffer[] = []
    for (const r of carrierRtp.received) decrypted.push(rtpPayload(await srtp.unprotect('from-sbc', r.msg)))
    assert.equal(decrypted.length, pcap.length)
    assert.deepEqual(decrypted, pcap.map(rtpPayload), 'payloads intact after SRTP decryption')
    // SRTP on the wire is not the plain packet (the payload is encrypted).
    assert.notDeepEqual(
      rtpPayload(carrierRtp.received[0]!.msg).subarray(0, 16),
      rtpPayload(pcap[0]!).subarray(0, 16),
    )

    ok(await uac.result(), 1, 'SIPp UAC')
    await carrier.waitFor(carrier.request('BYE'), 'BYE on the carrier leg')
    pbxRtp.close()
    carrierRtp.close()
    // CDR lines are written once per event-loop turn after the call ends: wait for this call's.
    const byCaller = () =>
      cdrLines(sbc.proc.output()).some((c) => {
        const h = (c as { hangup?: { by: string; reason: string } }).hangup
        return h?.by === 'caller' && h.reason === 'bye'
      })
    await eventually(async () => byCaller(), 'a CDR hung up by the caller with BYE')
    // The session is deleted: every port back (after the allocator's quarantine).
    const capacity = await portsCapacity(sbc)
    await eventually(async () => (await portsFree(sbc)) === capacity, 'all media ports free', 15_000)
  })

  it('an offer without a=crypto from the SRTP-mandatory side gets 488, no B leg', async () => {
    const pbx = await SipUa.open(pbxPeerPort)
    try {
      const invitesBefore = await metric(
        sbc.http,
        'sbc_sip_transactions_total',
        'kind="client",method="INVITE"',
      )
      const { final } = await carrier.invite(sbc.carrier, audioSdp(40_000, { codecs: '8' }))
      assert.equal(final.status, 488)
      assert.match(final.header('warning') ?? '', /SBC_ERR_MEDIA_SRTP_REQUIRED/)
      assert.equal(
        await metric(sbc.http, 'sbc_sip_transactions_total', 'kind="client",method="INVITE"'),
        invitesBefore,
        'no INVITE was sent on a B leg',
      )
      assert.equal(pbx.received.length, 0)
      type Cdr = { finalCode: number; hangup: { by: string; reason: string; detail?: string } }
      // CDR lines are written once per event-loop turn after the call ends: wait for this one.
      await eventually(
        async () => (cdrLines(sbc.proc.output()).at(-1) as Cdr | undefined)?.finalCode === 488,
        'the CDR of the refused call',
      )
      const cdr = cdrLines(sbc.proc.output()).at(-1) as Cdr
      assert.deepEqual(cdr.hangup, { by: 'sbc', reason: 'media', detail: 'SBC_ERR_MEDIA_SRTP_REQUIRED' })
    } finally {
      pbx.close()
    }
  })

  it('a malformed SDP from the SRTP-mandatory side gets 488 and ends the call (a CDR), no B leg', async () => {
    // The SRTP check parses the SDP in signalling; a parse error was no media refusal: 500, and the
    // accepted call stayed pending in the process (its record and slots written again while it
    // "rang", no CDR).
    const pbx = await SipUa.open(pbxPeerPort)
    try {
      const sdp = audioSdp(40_020, { codecs: '8', proto: 'RTP/SAVP' }).replace('m=audio 40020', 'm=audio x')
      const { final } = await carrier.invite(sbc.carrier, sdp)
      assert.equal(final.status, 488)
      assert.match(final.header('warning') ?? '', /SBC_ERR_MEDIA/)
      type Cdr = { finalCode: number; hangup: { by: string; reason: string } }
      await eventually(
        async () => (cdrLines(sbc.proc.output()).at(-1) as Cdr | undefined)?.finalCode === 488,
        'the CDR of the refused call',
      )
      assert.equal(pbx.received.length, 0, 'no B leg')
    } finally {
      pbx.close()
    }
  })

  it('an answer without a=crypto from the SRTP-mandatory side: 488 to the caller, ACK and BYE to the callee', async () => {
    const pbx = await SipUa.open(pbxPeerPort)
    carrier.received.length = 0
    carrier.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(40_010, { codecs: '8' }) } : undefined,
    )
    try {
      const { final } = await pbx.invite(sbc.pbx, audioSdp(40_012, { codecs: '8' }))
      assert.equal(final.status, 488)
      assert.match(final.header('warning') ?? '', /SBC_ERR_MEDIA_SRTP_REQUIRED/)
      // RFC 3261 §13.2.2.4 / §15: the callee's 2xx is acknowledged, then its dialog is ended.
      await carrier.waitFor(carrier.request('ACK'), 'ACK of the 2xx on the carrier leg')
      await carrier.waitFor(carrier.request('BYE'), 'BYE on the carrier leg')
      const capacity = await portsCapacity(sbc)
      await eventually(async () => (await portsFree(sbc)) === capacity, 'all media ports free', 15_000)
    } finally {
      pbx.close()
    }
  })
})

describe('kube-sbc run: media port exhaustion', function () {
  this.timeout(60_000)
  let sbc: MediaSbc
  let pbx: SipUa
  let carrier: SipUa
  // The carrier realm has one RTP/RTCP pair: room for exactly one call.
  let pbxRange = { min: 0, max: 0 }
  let carrierRange = { min: 0, max: 0 }

  before(async () => {
    const base = await mediaPortBase(104)
    pbxRange = { min: base, max: base + 99 }
    carrierRange = { min: base + 102, max: base + 103 }
    pbx = await SipUa.open(await freePort())
    carrier = await SipUa.open(await freePort())
    sbc = await startMediaSbc({
      pbxPeerPort: pbx.port,
      carrierPeerPort: carrier.port,
      pbxRange,
      carrierRange,
      carrierSrtp: 'Off',
    })
  })
  after(async () => {
    pbx?.close()
    carrier?.close()
    await sbc?.close()
  })

  it('the extra call gets 503 with Retry-After; the call already up keeps relaying', async () => {
    const pbxRtp = await Peer.open()
    const carrierRtp = await Peer.open()
    carrier.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) } : undefined,
    )
    const first = await pbx.invite(sbc.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(first.final.status, 200)
    const second = await pbx.invite(sbc.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(second.final.status, 503)
    assert.equal(second.final.header('retry-after'), '5')
    assert.match(second.final.header('warning') ?? '', /SBC_ERR_MEDIA_UNAVAILABLE/)
    assert.equal(carrier.received.filter(carrier.request('INVITE')).length, 1)

    // The first call still relays both ways.
    const toCarrierSide = endpointOf(bodyOf(first.final)).port
    const invite = await carrier.waitFor(carrier.request('INVITE'), 'INVITE')
    const toPbxSide = endpointOf(bodyOf(invite)).port
    assert.ok(inRange(toPbxSide, carrierRange))
    for (let i = 0; i < 5; i++) await carrierRtp.send(rtpPacket(100 + i, 8, 0xb), toPbxSide)
    await pbxRtp.waitFor(5)
    for (let i = 0; i < 5; i++) await pbxRtp.send(rtpPacket(200 + i, 8, 0xa), toCarrierSide)
    await carrierRtp.waitFor(5)
    assert.deepEqual(
      carrierRtp.received.map((r) => rtpPayload(r.msg)),
      [0, 1, 2, 3, 4].map((i) => rtpPayload(rtpPacket(200 + i, 8, 0xa))),
    )
    const bye = await first.bye()
    assert.equal((bye as SipResponse).status, 200)
    pbxRtp.close()
    carrierRtp.close()
    const capacity = await portsCapacity(sbc)
    await eventually(async () => (await portsFree(sbc)) === capacity, 'all media ports free', 15_000)
    const cdr = cdrLines(sbc.proc.output())
    assert.ok(
      cdr.some(
        (c) =>
          (c as { finalCode: number; hangup: { reason: string } }).finalCode === 503 &&
          (c as { hangup: { reason: string } }).hangup.reason === 'media',
      ),
    )
  })
})

describe('kube-sbc run: re-INVITE and late offer through the media relay', function () {
  this.timeout(60_000)
  let sbc: MediaSbc
  let pbx: SipUa
  let carrier: SipUa
  let pbxRange = { min: 0, max: 0 }
  let carrierRange = { min: 0, max: 0 }

  before(async () => {
    const base = await mediaPortBase(200)
    pbxRange = { min: base, max: base + 99 }
    carrierRange = { min: base + 100, max: base + 199 }
    pbx = await SipUa.open(await freePort())
    carrier = await SipUa.open(await freePort())
    sbc = await startMediaSbc({
      pbxPeerPort: pbx.port,
      carrierPeerPort: carrier.port,
      pbxRange,
      carrierRange,
      carrierSrtp: 'Optional',
    })
  })
  after(async () => {
    pbx?.close()
    carrier?.close()
    await sbc?.close()
  })

  it('hold re-INVITE keeps the ports; a re-offer with no common codec gets 488 and the call stays up', async () => {
    carrier.received.length = 0
    const carrierRtp = await Peer.open()
    const pbxRtp = await Peer.open()
    carrier.answerWith((req) =>
      req.method === 'INVITE'
        ? {
            status: 200,
            sdp: audioSdp(carrierRtp.port, { codecs: '8' }).replace(
              'a=sendrecv',
              /a=sendonly/.test(bodyOf(req)) ? 'a=recvonly' : 'a=sendrecv',
            ),
          }
        : undefined,
    )
    const c = await pbx.invite(sbc.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(c.final.status, 200)
    const first = await carrier.waitFor(carrier.request('INVITE'), 'INVITE')
    // Hold (RFC 3264 §8.4): same relay ports on both sides, direction passed on.
    const hold = await c.reinvite(audioSdp(pbxRtp.port, { codecs: '8' }).replace('a=sendrecv', 'a=sendonly'))
    assert.equal(hold.status, 200)
    assert.equal(endpointOf(bodyOf(hold)).port, endpointOf(bodyOf(c.final)).port)
    const invites = carrier.received.filter(carrier.request('INVITE'))
    assert.equal(invites.length, 2)
    const reoffer = bodyOf(invites[1] as { body: Buffer })
    assert.match(reoffer, /a=sendonly/)
    assert.equal(endpointOf(reoffer).port, endpointOf(bodyOf(first)).port)
    assert.ok(inRange(endpointOf(reoffer).port, carrierRange))
    // G.729 only: nothing the profiles allow. 488 to the sender, nothing toward the carrier.
    const bad = await c.reinvite(audioSdp(pbxRtp.port, { codecs: '18' }).replace(/a=rtpmap:[08] .*\r\n/g, ''))
    assert.equal(bad.status, 488)
    assert.equal(carrier.received.filter(carrier.request('INVITE')).length, 2)
    // The call and its media are as they were.
    const toPbxSide = endpointOf(reoffer).port
    for (let i = 0; i < 3; i++) await carrierRtp.send(rtpPacket(i, 8, 0xc), toPbxSide)
    await pbxRtp.waitFor(3)
    assert.equal((await c.bye()).status, 200)
    carrierRtp.close()
    pbxRtp.close()
  })

  it('a re-INVITE the callee refuses (488) leaves the media as agreed before: old addresses, old payload type', async () => {
    carrier.received.length = 0
    const carrierRtp = await Peer.open()
    const pbxRtp = await Peer.open()
    const movedRtp = await Peer.open()
    let invites = 0
    carrier.answerWith((req) => {
      if (req.method !== 'INVITE') return undefined
      // RFC 3264 §8: a refused re-offer leaves the session as the last offer/answer made it.
      return ++invites === 1
        ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) }
        : { status: 488 }
    })
    const c = await pbx.invite(sbc.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(c.final.status, 200)
    const first = await carrier.waitFor(carrier.request('INVITE'), 'INVITE')
    const pbxSide = endpointOf(bodyOf(c.final)).port
    const carrierSide = endpointOf(bodyOf(first)).port
    await rtpBothWays(pbxRtp, pbxSide, carrierRtp, carrierSide)
    // The caller moves its media to another port and changes codec (PCMA → PCMU); the callee refuses.
    const moved = await c.reinvite(audioSdp(movedRtp.port, { codecs: '0' }))
    assert.equal(moved.status, 488)
    assert.equal(
      carrier.received.filter(carrier.request('INVITE')).length,
      2,
      'the re-offer reached the callee',
    )
    // The callee sends first (nothing from the caller since the refusal): its RTP must reach the
    // caller's old address, as PCMA (8), and none the refused one.
    for (let i = 0; i < 3; i++) await carrierRtp.send(rtpPacket(30 + i, 8, 0xd), carrierSide)
    await pbxRtp.waitFor(6)
    assert.deepEqual(
      pbxRtp.received.slice(3).map((p) => p.msg[1]! & 0x7f),
      [8, 8, 8],
      'the old payload type toward the caller',
    )
    for (let i = 0; i < 3; i++) await pbxRtp.send(rtpPacket(40 + i, 8, 0xe), pbxSide)
    await carrierRtp.waitFor(6)
    assert.deepEqual(
      carrierRtp.received.slice(3).map((p) => p.msg[1]! & 0x7f),
      [8, 8, 8],
      'the old payload type toward the callee',
    )
    assert.equal(movedRtp.received.length, 0, 'nothing to the address of the refused offer')
    assert.equal(carrier.received.filter(carrier.request('BYE')).length, 0, 'no hang-up')
    assert.equal((await c.bye()).status, 200)
    carrierRtp.close()
    pbxRtp.close()
    movedRtp.close()
  })

  it('a 2xx with SDP to an in-dialog INFO or OPTIONS is no answer: relayed unchanged, media untouched', async () => {
    carrier.received.length = 0
    const carrierRtp = await Peer.open()
    const pbxRtp = await Peer.open()
    // RFC 3261 §7.4 allows a body in any response; only the answer to an INVITE's or UPDATE's
    // offer is an SDP answer (RFC 3264 §4). This one names other ports than the call's.
    const stray = audioSdp(carrierRtp.port + 2, { codecs: '18' }).replace(/a=rtpmap:[08] .*\r\n/g, '')
    carrier.answerWith((req) =>
      req.method === 'INVITE'
        ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) }
        : { status: 200, sdp: stray },
    )
    const c = await pbx.invite(sbc.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(c.final.status, 200)
    const invite = await carrier.waitFor(carrier.request('INVITE'), 'INVITE')
    for (const method of ['INFO', 'OPTIONS']) {
      const r = await c.send(method)
      assert.equal(r.status, 200, method)
      assert.equal(bodyOf(r), stray, `the body of the 200 to ${method} as the callee sent it`)
    }
    // The call's media as set up: RTP both ways through the ports of the INVITE's offer/answer.
    await rtpBothWays(pbxRtp, endpointOf(bodyOf(c.final)).port, carrierRtp, endpointOf(bodyOf(invite)).port)
    assert.equal(carrier.received.filter(carrier.request('BYE')).length, 0, 'no hang-up')
    assert.equal((await c.bye()).status, 200)
    const cdrs = () =>
      cdrLines(sbc.proc.output()).filter(
        (l) => (l.legA as { sipCallId?: string } | undefined)?.sipCallId === c.final.callId,
      ) as { hangup: { by: string; reason: string } }[]
    await eventually(async () => cdrs().length === 1, 'the CDR of the call')
    assert.deepEqual(
      cdrs().map((l) => l.hangup),
      [{ by: 'caller', reason: 'bye' }],
    )
    carrierRtp.close()
    pbxRtp.close()
  })

  it('an offerless re-INVITE: the offer in the 2xx and the answer in the ACK are anchored, media flows', async () => {
    carrier.received.length = 0
    const carrierRtp = await Peer.open()
    const pbxRtp = await Peer.open()
    carrier.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) } : undefined,
    )
    const c = await pbx.invite(sbc.pbx, audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(c.final.status, 200)
    await carrier.waitFor(carrier.request('ACK'), 'ACK of the INVITE')
    // RFC 3261 §14.1: the 2xx of a re-INVITE without SDP carries the offer, the ACK the answer.
    const re = await c.reinvite('', () => audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(re.status, 200)
    const reinvite = carrier.received.filter(carrier.request('INVITE'))[1] as { body: Buffer }
    assert.equal(reinvite.body.length, 0, 'relayed without SDP')
    const offerToPbx = bodyOf(re)
    assert.ok(inRange(endpointOf(offerToPbx).port, pbxRange), offerToPbx)
    await eventually(
      async () => carrier.received.filter(carrier.request('ACK')).length === 2,
      'the second ACK',
    )
    const answerToCarrier = bodyOf(carrier.received.filter(carrier.request('ACK'))[1] as { body: Buffer })
    assert.ok(inRange(endpointOf(answerToCarrier).port, carrierRange), answerToCarrier)
    await rtpBothWays(pbxRtp, endpointOf(offerToPbx).port, carrierRtp, endpointOf(answerToCarrier).port)
    assert.equal((await c.bye()).status, 200)
    carrierRtp.close()
    pbxRtp.close()
  })

  it('late offer: the offer in the 2xx and the answer in the ACK are anchored, media flows', async () => {
    carrier.received.length = 0
    const carrierRtp = await Peer.open()
    const pbxRtp = await Peer.open()
    carrier.answerWith((req) =>
      req.method === 'INVITE' ? { status: 200, sdp: audioSdp(carrierRtp.port, { codecs: '8' }) } : undefined,
    )
    const c = await pbx.invite(sbc.pbx, '', 'callee', () => audioSdp(pbxRtp.port, { codecs: '8' }))
    assert.equal(c.final.status, 200)
    const invite = await carrier.waitFor(carrier.request('INVITE'), 'INVITE')
    assert.equal(invite.body.length, 0, 'the INVITE toward the carrier has no SDP either')
    const offerToPbx = bodyOf(c.final)
    assert.ok(inRange(endpointOf(offerToPbx).port, pbxRange), offerToPbx)
    const ack = await carrier.waitFor(carrier.request('ACK'), 'ACK with the answer')
    const answerToCarrier = bodyOf(ack)
    assert.ok(inRange(endpointOf(answerToCarrier).port, carrierRange), answerToCarrier)
    await rtpBothWays(pbxRtp, endpointOf(offerToPbx).port, carrierRtp, endpointOf(answerToCarrier).port)
    assert.deepEqual(
      pbxRtp.received.map((r) => rtpPayload(r.msg)),
      [20, 21, 22].map((i) => rtpPayload(rtpPacket(i, 8, 0xb))),
    )
    assert.equal((await c.bye()).status, 200)
    carrierRtp.close()
    pbxRtp.close()
    const capacity = await portsCapacity(sbc)
    await eventually(async () => (await portsFree(sbc)) === capacity, 'all media ports free', 15_000)
  })
})

/** SIPp caller and callee through `sbc`, `calls` calls one at a time; both must succeed. */
async function sequentialCalls(sbc: MediaSbc, pbxPeerPort: number, carrierPeerPort: number, calls: number) {
  const uas = await startSipp({
    scenario: { file: await scenario('uas-answer.xml') },
    transport: 'u1',
    localPort: carrierPeerPort,
    calls,
    timeoutSeconds: 150,
  })
  await new Promise((r) => setTimeout(r, 200))
  const uac = await startSipp({
    scenario: { file: await scenario('uac-call.xml') },
    target: `127.0.0.1:${sbc.pbx}`,
    transport: 'u1',
    localPort: pbxPeerPort,
    calls,
    rate: 50,
    timeoutSeconds: 150,
    // Sequential: one call at a time.
    extra: ['-l', '1'],
  })
  const [a, b] = await Promise.all([uac.result(), uas.result()])
  // A failed call is explained by the SBC's CDRs (reason, code); print the unusual ones.
  const odd = cdrLines(sbc.proc.output()).filter(
    (c) => (c as { hangup: { reason: string } }).hangup.reason !== 'bye',
  )
  ok(a, calls, `SIPp UAC (CDRs not ended by BYE: ${JSON.stringify(odd.slice(0, 5))})`)
  ok(b, calls, 'SIPp UAS')
}

describe('kube-sbc run: 1,000 sequential calls', function () {
  this.timeout(240_000)
  let sbc: MediaSbc
  let pbxPeerPort: number
  let carrierPeerPort: number

  before(async () => {
    const base = await mediaPortBase(2000)
    pbxPeerPort = await freePort()
    carrierPeerPort = await freePort()
    sbc = await startMediaSbc({
      pbxPeerPort,
      carrierPeerPort,
      pbxRange: { min: base, max: base + 999 },
      carrierRange: { min: base + 1000, max: base + 1999 },
      carrierSrtp: 'Optional',
    })
  })
  afterEach(function () {
    if (this.currentTest?.state === 'failed')
      console.log(
        sbc.proc
          .output()
          .split('\n')
          .filter((l) => /refused by the media step|"level":"(warn|error)"/.test(l))
          .slice(0, 10)
          .join('\n'),
      )
  })
  after(async () => {
    await sbc?.close()
  })

  it('leave no media session and no media port allocated', async () => {
    const calls = 1000
    await sequentialCalls(sbc, pbxPeerPort, carrierPeerPort, calls)
    assert.equal(await metric(sbc.http, 'sbc_media_sessions'), 0)
    const capacity = await portsCapacity(sbc)
    assert.ok(capacity > 0)
    await eventually(async () => (await portsFree(sbc)) === capacity, 'all media ports free', 20_000)
    assert.equal(await metric(sbc.http, 'sbc_calls_active'), 0)
  })
})

describe('kube-sbc run --redis: no key behind, media and hold timeouts', function () {
  this.timeout(240_000)
  let redis: TestRedis
  let client: Redis
  let sbc: MediaSbc
  let pbxPeerPort: number
  let carrierPeerPort: number

  before(async () => {
    redis = await startRedis()
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
    const base = await mediaPortBase(2000)
    pbxPeerPort = await freePort()
    carrierPeerPort = await freePort()
    sbc = await startMediaSbc({
      pbxPeerPort,
      carrierPeerPort,
      pbxRange: { min: base, max: base + 999 },
      carrierRange: { min: base + 1000, max: base + 1999 },
      carrierSrtp: 'Optional',
      redis: redis.url,
      extra: ['--media-timeout', '2', '--hold-timeout', '3'],
    })
  })
  afterEach(function () {
    // The SBC's warnings and errors explain a failed call; its info lines are too many to print.
    if (this.currentTest?.state === 'failed')
      console.log(
        sbc.proc
          .output()
          .split('\n')
          .filter((l) => /"level":"(warn|error)"/.test(l))
          .slice(0, 20)
          .join('\n'),
      )
  })
  after(async () => {
    await sbc?.close()
    client?.disconnect()
    await redis?.close()
  })

  it('100 sequential calls leave no media port allocated and no call key in Redis', async () => {
    await sequentialCalls(sbc, pbxPeerPort, carrierPeerPort, 100)
    assert.equal(await metric(sbc.http, 'sbc_media_sessions'), 0)
    const capacity = await portsCapacity(sbc)
    await eventually(async () => (await portsFree(sbc)) === capacity, 'all media ports free', 20_000)
    // Only the media pod's registry entry (its heartbeat) is left: no call, leg or admission key.
    const keys = (await client.keys('*')).sort()
    assert.ok(
      keys.some((k) => k.includes('{m}:pods')),
      'the in-process media pod is registered in Redis',
    )
    assert.deepEqual(
      keys.filter((k) => !k.includes('{m}:pods')),
      [],
      keys.join(' '),
    )
  })

  /**
   * A call from the pbx with `offer`, answered with `answer`, in which nobody sends RTP: the SBC must
   * end it (BYE on both legs) with a CDR of hangup `reason`, and leave no call key in Redis. Returns
   * that CDR's hangup.
   */
  const endedBySbc = async (offer: string, answer: string, reason: string) => {
    const pbx = await SipUa.open(pbxPeerPort)
    const carrier = await SipUa.open(carrierPeerPort)
    try {
      carrier.answerWith((req) => (req.method === 'INVITE' ? { status: 200, sdp: answer } : undefined))
      pbx.answerWith(() => undefined)
      const { final } = await pbx.invite(sbc.pbx, offer)
      assert.equal(final.status, 200)
      await pbx.waitFor(pbx.request('BYE'), 'BYE toward the caller', 30_000)
      await carrier.waitFor(carrier.request('BYE'), 'BYE toward the callee', 30_000)
      const hangup = () =>
        cdrLines(sbc.proc.output())
          .map((c) => (c as { hangup: { by: string; reason: string; detail: string } }).hangup)
          .find((h) => h.reason === reason)
      await eventually(async () => hangup() !== undefined, `CDR with ${reason}`)
      // The CDR is written first, then the state is deleted.
      await eventually(
        async () => (await client.keys('*')).filter((k) => !k.includes('{m}:pods')).length === 0,
        'no call key in Redis',
      )
      return hangup() as { by: string; detail: string }
    } finally {
      pbx.close()
      carrier.close()
    }
  }

  it('a call whose media stops is ended: BYE on both legs, CDR hangup media-timeout', async () => {
    // Nobody sends RTP: after --media-timeout the media pod publishes the notice on Redis and
    // signalling hangs up both legs.
    const hangup = await endedBySbc(
      audioSdp(40_000, { codecs: '8' }),
      audioSdp(40_002, { codecs: '8' }),
      'media-timeout',
    )
    assert.equal(hangup.by, 'sbc')
    assert.match(hangup.detail, /^no media for \d+ s \(media pod /)
  })

  it('a call held without media is ended after --hold-timeout: BYE on both legs, CDR hangup hold-timeout', async () => {
    // A call that starts on hold (the caller sendonly, playing nothing; the callee recvonly) and
    // nobody sends: not the 2-s media timeout's, the 3-s hold timeout's, told through Redis with
    // `hold: true`.
    const hangup = await endedBySbc(
      audioSdp(40_000, { codecs: '8' }).replace('a=sendrecv', 'a=sendonly'),
      audioSdp(40_002, { codecs: '8' }).replace('a=sendrecv', 'a=recvonly'),
      'hold-timeout',
    )
    assert.equal(hangup.by, 'sbc')
    assert.match(hangup.detail, /^no media for [3-9] s on hold \(media pod /)
  })
})
