/**
 * The seed corpus of the packet-path fuzz harness (packet-fuzz.c): valid STUN connectivity checks
 * built by the TypeScript codec (the reference), with the verdict each gets, and plain RTP and RTCP
 * of the shapes a peer sends. The harness protects the RTP/RTCP with every SRTP profile itself.
 */
import { buildStun, StunAttr, StunType } from '../../../lib/media/stun/stun.ts'
import { hex, RFC5769, RFC5769_REQUEST } from '../../../test/harness/rfc5769.ts'
import { StunVerdict } from '../media-addon.ts'
import { check } from '../test-packets.ts'

/** The credentials of the fuzzed leg: RFC 5769's, so its request vector is a seed as it is. */
export const FUZZ_ICE = RFC5769

export interface Seed {
  readonly kind: 'stun' | 'rtp'
  readonly packet: Buffer
  /** STUN: the verdict the responder gives the seed unchanged. */
  readonly verdict?: StunVerdict
}

const TID = Buffer.from('fuzz-tid-012')

/** A request with MESSAGE-INTEGRITY and no FINGERPRINT, then one more attribute after MESSAGE-INTEGRITY
 * (ignored, RFC 5389 §15.4: still a success). */
function afterIntegrity(): Buffer {
  const m = buildStun(
    StunType.bindingRequest,
    TID,
    [{ type: StunAttr.username, value: Buffer.from(`${FUZZ_ICE.ufrag}:peer`) }],
    { integrityKey: FUZZ_ICE.pwd },
  )
  const out = Buffer.concat([m, hex('80220008 6b7562652d736263')])
  out.writeUInt16BE(out.length - 20, 2)
  return out
}

function stunSeeds(): Seed[] {
  const user = (u: string) => ({ type: StunAttr.username, value: Buffer.from(u) })
  const req = (attrs: Parameters<typeof buildStun>[2], opts: Parameters<typeof buildStun>[3]) =>
    buildStun(StunType.bindingRequest, TID, attrs, opts)
  const badFingerprint = Buffer.from(check(FUZZ_ICE))
  badFingerprint[badFingerprint.length - 1] = (badFingerprint.at(-1) as number) ^ 1
  const s = (packet: Buffer, verdict: StunVerdict): Seed => ({ kind: 'stun', packet, verdict })
  return [
    s(RFC5769_REQUEST, StunVerdict.success),
    s(check(FUZZ_ICE), StunVerdict.success),
    s(check(FUZZ_ICE, { nominate: true }), StunVerdict.success),
    s(req([user(`${FUZZ_ICE.ufrag}:peer`)], { integrityKey: FUZZ_ICE.pwd }), StunVerdict.success),
    s(afterIntegrity(), StunVerdict.success),
    s(req([], { integrityKey: FUZZ_ICE.pwd, fingerprint: true }), StunVerdict.error), // 400: no USERNAME
    s(req([user(`${FUZZ_ICE.ufrag}:peer`)], { fingerprint: true }), StunVerdict.error), // 400: no MESSAGE-INTEGRITY
    s(check(FUZZ_ICE, { pwd: 'not-the-22-char-passwd' }), StunVerdict.error), // 401
    s(check({ ufrag: 'evtjx', pwd: FUZZ_ICE.pwd }), StunVerdict.error), // 401: another ufrag
    s(
      req([user(`${'u'.repeat(255)}:`)], { integrityKey: FUZZ_ICE.pwd, fingerprint: true }),
      StunVerdict.error,
    ),
    s(buildStun(StunType.bindingIndication, TID, [], { fingerprint: true }), StunVerdict.drop),
    s(buildStun(StunType.bindingSuccess, TID, [], { fingerprint: true }), StunVerdict.drop),
    s(buildStun(0x0003, TID, [user('evtj:peer')], { fingerprint: true }), StunVerdict.dropFailed), // not Binding
    s(badFingerprint, StunVerdict.dropFailed),
  ]
}

/** RTP: version 2, `first` (CC, X, P), `pt` (marker in the top bit), then the rest. */
function rtp(first: number, pt: number, seq: number, ts: number, ssrc: number, rest: Buffer): Buffer {
  const h = Buffer.alloc(12)
  h[0] = 0x80 | first
  h[1] = pt
  h.writeUInt16BE(seq, 2)
  h.writeUInt32BE(ts >>> 0, 4)
  h.writeUInt32BE(ssrc >>> 0, 8)
  return Buffer.concat([h, rest])
}

const payload = (n: number, x: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + x) & 0xff))

/** RTCP packet: version 2, `count`, `pt`, the sender SSRC, then the body (length in words - 1). */
function rtcp(count: number, pt: number, ssrc: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8)
  h[0] = 0x80 | count
  h[1] = pt
  h.writeUInt16BE((8 + body.length) / 4 - 1, 2)
  h.writeUInt32BE(ssrc >>> 0, 4)
  return Buffer.concat([h, body])
}

function mediaSeeds(): Seed[] {
  const reportBlock = hex('cafe0001 00000003 00010064 00000010 11223344 00000100')
  const senderInfo = hex('e8a1b2c3 d4e5f600 00012345 00000064 00003e80')
  const sdes = hex('0a000001 010d6b7562652d7362632d66757a7a00') // chunk: SSRC, CNAME "kube-sbc-fuzz", end
  const r = (packet: Buffer): Seed => ({ kind: 'rtp', packet })
  return [
    r(rtp(0, 0, 1, 160, 0x0a000001, payload(160, 1))), // G.711, 20 ms
    r(rtp(0, 0x80 | 96, 7, 3000, 0x0a000002, payload(60, 2))), // marker, dynamic type (mapped)
    r(rtp(2, 8, 40, 8000, 0x0a000003, Buffer.concat([hex('0b0000010b000002'), payload(32, 3)]))), // 2 CSRCs
    r(rtp(0x10, 111, 300, 48000, 0x0a000004, Buffer.concat([hex('bede0001 10ff0000'), payload(40, 4)]))), // RFC 8285
    r(rtp(0x20, 0, 5, 800, 0x0a000005, Buffer.concat([payload(20, 5), hex('00000004')]))), // padding
    r(rtp(0, 13, 9, 900, 0x0a000006, Buffer.alloc(0))), // header only (comfort noise without payload)
    r(rtp(0, 0, 0xfffe, 0xfffffff0, 0x0a000007, payload(8, 7))), // sequence number about to wrap
    r(rtcp(0, 200, 0x0b000001, senderInfo)), // SR, no report block
    r(rtcp(1, 200, 0x0b000002, Buffer.concat([senderInfo, reportBlock]))), // SR + one block
    r(Buffer.concat([rtcp(1, 201, 0x0b000003, reportBlock), rtcp(1, 202, 0x0a000001, sdes.subarray(4))])), // RR + SDES
    r(rtcp(1, 203, 0x0b000004, Buffer.alloc(0))), // BYE
    r(rtcp(0, 204, 0x0b000005, Buffer.concat([Buffer.from('KSBC'), payload(8, 9)]))), // APP
  ]
}

/** All the seeds. */
export function fuzzSeeds(): Seed[] {
  return [...stunSeeds(), ...mediaSeeds()]
}

/**
 * The corpus file packet-fuzz.c reads: per seed, kind (1 STUN, 2 RTP/RTCP), the expected verdict
 * (a signed octet, -1 none), the length (16-bit big-endian) and the octets.
 */
export function corpusFile(seeds: readonly Seed[]): Buffer {
  return Buffer.concat(
    seeds.map((s) => {
      const h = Buffer.alloc(4)
      h[0] = s.kind === 'stun' ? 1 : 2
      h.writeInt8(s.verdict ?? -1, 1)
      h.writeUInt16BE(s.packet.length, 2)
      return Buffer.concat([h, s.packet])
    }),
  )
}
