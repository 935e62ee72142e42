import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { AesCmKeystream } from './aes-cm.ts'
import { aesF8Keystream } from './aes-f8.ts'
import { SrtpContext, SrtpStatus } from './context.ts'
import { aesCmPrf, type DerivedKeys, deriveSessionKeys } from './kdf.ts'
import { formatSdesKeyParams, parseSdesKeyParams } from './sdes.ts'
import { srtpSuite } from './suites.ts'

/* Known-answer tests: every vector of lib/media/fixtures/srtp-vectors.json (a copy of
 * shared/testdata/srtp-vectors.json) is looked up by id below; an unknown id fails the suite. */

type Json = Record<string, unknown>
interface Vector {
  id: string
  inputs: Json
  intermediate?: Json
  expected: Json
  sdes_inline_key_param?: string
}
const file = JSON.parse(readFileSync(new URL('../fixtures/srtp-vectors.json', import.meta.url), 'utf8')) as {
  vectors: Vector[]
  replay_and_index: unknown
}
const h = (v: unknown): Buffer => Buffer.from(String(v), 'hex')
const hx = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase()
const str = (v: unknown): string => String(v)

/** Session keys given directly (RFC 7714 vectors skip the KDF); RTP and RTCP share them. */
function direct(key: Buffer, salt: Buffer): DerivedKeys {
  const k = { encryptionKey: key, authenticationKey: Buffer.alloc(0), salt }
  return { rtp: k, rtcp: k }
}
const gcmSuite = (key: Buffer) => (key.length === 32 ? 'AEAD_AES_256_GCM' : 'AEAD_AES_128_GCM')

/** Checks listed keystream blocks, generating from the counter of each block. */
function checkKeystreamBlocks(v: Vector): void {
  const key = h(v.inputs.session_key)
  const ivBase = h(v.inputs.session_salt_shifted)
  const ks = new AesCmKeystream(key)
  for (const b of v.expected.blocks as Array<{ block_index: number; keystream: string; counter?: string }>) {
    const iv = Buffer.from(ivBase)
    iv.writeUInt16BE(b.block_index, 14)
    if (b.counter) assert.equal(hx(iv), b.counter)
    assert.equal(hx(ks.keystream(iv, 16).subarray(0, 16)), b.keystream, `block ${b.block_index}`)
  }
}

function checkKdf(v: Vector, authKey: unknown): void {
  const mk = h(v.inputs.master_key)
  const ms = h(v.inputs.master_salt)
  assert.equal(v.inputs.key_derivation_rate, 0)
  const suite = mk.length === 32 ? srtpSuite('AES_256_CM_HMAC_SHA1_80') : srtpSuite('AES_CM_128_HMAC_SHA1_80')
  const value = (x: unknown) => (typeof x === 'object' && x !== null ? (x as Json).value : x)
  if (mk.length !== 24) {
    const keys = deriveSessionKeys(suite, mk, ms)
    assert.equal(hx(keys.rtp.encryptionKey), value(v.expected.cipher_key))
    assert.equal(hx(keys.rtp.salt), value(v.expected.cipher_salt))
    assert.equal(hx(keys.rtp.authenticationKey), str(value(authKey)).slice(0, 40))
  }
  // The PRF itself, also for AES-192 (no SDES suite uses it, RFC 6188 §7.4 still pins the PRF).
  assert.equal(hx(aesCmPrf(mk, ms, 0x00, mk.length)), value(v.expected.cipher_key))
  assert.equal(hx(aesCmPrf(mk, ms, 0x02, 14)), value(v.expected.cipher_salt))
  const a = str(value(authKey))
  assert.equal(hx(aesCmPrf(mk, ms, 0x01, a.length / 2)), a)
}

const checks: Record<string, (v: Vector) => void> = {
  'rfc3711-B.1-aes-f8': (v) => {
    const header = h(v.inputs.rtp_header)
    const payload = h(v.inputs.rtp_payload)
    const iv = Buffer.concat([Buffer.from([0]), header.subarray(1), h(v.inputs.roc)])
    assert.equal(hx(iv), v.intermediate?.iv)
    const ks = aesF8Keystream(h(v.inputs.key), h(v.inputs.salt_key), iv, payload.length)
    const S = v.intermediate?.S as string[]
    assert.equal(hx(ks.subarray(0, 16)), S[0])
    const ct = Buffer.from(payload.map((b, i) => b ^ (ks[i] as number)))
    assert.equal(hx(ct), v.expected.ciphertext)
  },
  'rfc3711-B.2-aes-cm-keystream': (v) => {
    checkKeystreamBlocks(v)
    // And through the SRTP transform: an all-zero payload, SSRC 0, SEQ 0, ROC 0 encrypts to the
    // keystream (the B.2 "how to use").
    const keys = {
      encryptionKey: h(v.inputs.session_key),
      authenticationKey: Buffer.alloc(20),
      salt: h(v.inputs.session_salt_14_octets),
    }
    const ctx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', { rtp: keys, rtcp: keys })
    const pkt = Buffer.alloc(12 + 48 + 10)
    pkt[0] = 0x80
    assert.equal(ctx.protectRtp(pkt, 60), 70)
    const blocks = v.expected.blocks as Array<{ keystream: string }>
    assert.equal(
      hx(pkt.subarray(12, 60)),
      blocks
        .slice(0, 3)
        .map((b) => b.keystream)
        .join(''),
    )
  },
  'rfc3711-B.3-kdf-aes128': (v) => {
    checkKdf(v, v.expected.auth_key)
    const auth = v.expected.auth_key as Json
    assert.equal(
      hx(
        deriveSessionKeys(
          srtpSuite('AES_CM_128_HMAC_SHA1_80'),
          h(v.inputs.master_key),
          h(v.inputs.master_salt),
        ).rtp.authenticationKey,
      ),
      auth.first_20_octets_hmac_sha1_key,
    )
    // SDES inline key = base64(master key ‖ master salt).
    const k = parseSdesKeyParams(`inline:${v.sdes_inline_key_param}`, 'AES_CM_128_HMAC_SHA1_80')
    assert.equal(hx(k.masterKey), v.inputs.master_key)
    assert.equal(hx(k.masterSalt), v.inputs.master_salt)
    assert.equal(formatSdesKeyParams(k), `inline:${v.sdes_inline_key_param}`)
  },
  'rfc6188-7.1-aes256-cm-keystream': checkKeystreamBlocks,
  'rfc6188-7.3-aes192-cm-keystream': checkKeystreamBlocks,
  'rfc6188-7.2-kdf-aes256': (v) => checkKdf(v, v.expected.auth_key_20_octets),
  'rfc6188-7.4-kdf-aes192': (v) => checkKdf(v, v.expected.auth_key_20_octets),
  'rfc7714-16.1-srtp-aead-aes-128-gcm': checkGcmSrtp,
  'rfc7714-16.2-srtp-aead-aes-256-gcm': checkGcmSrtp,
  'rfc7714-17.1-srtcp-aead-aes-128-gcm-encrypt': checkGcmSrtcpProtect,
  'rfc7714-17.3-srtcp-aead-aes-128-gcm-tag-only': checkGcmSrtcpProtect,
  'rfc7714-17.2-srtcp-aead-aes-256-gcm-decrypt': checkGcmSrtcpUnprotect,
  'rfc7714-17.4-srtcp-aead-aes-256-gcm-tag-only': checkGcmSrtcpUnprotect,
}

function checkGcmSrtp(v: Vector): void {
  const key = h(v.inputs.key)
  const keys = direct(key, h(v.inputs.salt))
  const tx = new SrtpContext(gcmSuite(key), keys)
  const srtp = tx.protect(h(v.inputs.rtp_packet))
  assert.equal(hx(srtp), v.expected.srtp_packet)
  assert.equal(hx(srtp.subarray(12, srtp.length - 16)), v.expected.ciphertext)
  assert.equal(hx(srtp.subarray(srtp.length - 16)), v.expected.tag)
  const rx = new SrtpContext(gcmSuite(key), keys)
  assert.equal(hx(rx.unprotect(srtp)), v.inputs.rtp_packet)
  // derived replay case: the same packet a second time is a replay.
  const again = Buffer.from(srtp)
  assert.equal(rx.unprotectRtp(again, again.length), SrtpStatus.replayed)
  // derived: a flipped tag bit fails authentication and does not advance the window.
  const rx2 = new SrtpContext(gcmSuite(key), keys)
  const forged = Buffer.from(srtp)
  forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
  assert.equal(rx2.unprotectRtp(forged, forged.length), SrtpStatus.authFailed)
  assert.equal(hx(rx2.unprotect(srtp)), v.inputs.rtp_packet)
}

function checkGcmSrtcpProtect(v: Vector): void {
  const key = h(v.inputs.key)
  const keys = direct(key, h(v.inputs.salt))
  const ctx = new SrtpContext(gcmSuite(key), keys, { encryptRtcp: v.inputs.e_flag === 1 })
  ctx.setRtcpIndex(h(v.inputs.ssrc).readUInt32BE(0), h(v.inputs.srtcp_index).readUInt32BE(0))
  const out = ctx.protectRtcpPacket(h(v.inputs.rtcp_packet))
  assert.equal(hx(out), v.expected.srtcp_packet)
  assert.equal(hx(out.subarray(out.length - 20, out.length - 4)), v.expected.tag)
  const rx = new SrtpContext(gcmSuite(key), keys)
  assert.equal(hx(rx.unprotectRtcpPacket(out)), v.inputs.rtcp_packet)
  assert.equal(rx.unprotectRtcp(Buffer.from(out), out.length), SrtpStatus.replayed)
}

function checkGcmSrtcpUnprotect(v: Vector): void {
  const key = h(v.inputs.key)
  const keys = direct(key, h(v.inputs.salt))
  const pkt = h(v.inputs.srtcp_packet)
  assert.equal(hx(pkt.subarray(pkt.length - 20, pkt.length - 4)), v.expected.tag)
  const forged = Buffer.from(pkt)
  forged[9] = (forged[9] as number) ^ 0x80
  const rx = new SrtpContext(gcmSuite(key), keys)
  assert.equal(rx.unprotectRtcp(forged, forged.length), SrtpStatus.authFailed)
  assert.equal(rx.counters.authFailures, 1)
  assert.equal(hx(rx.unprotectRtcpPacket(pkt)), v.expected.rtcp_packet)
  // Our own protect with the same index and E flag reproduces the packet.
  const e = pkt.readUInt32BE(pkt.length - 4)
  const tx = new SrtpContext(gcmSuite(key), keys, { encryptRtcp: e >= 0x80000000 })
  tx.setRtcpIndex(pkt.readUInt32BE(4), e & 0x7fffffff)
  assert.equal(hx(tx.protectRtcpPacket(h(v.expected.rtcp_packet))), hx(pkt))
}

describe('SRTP known-answer vectors (RFC 3711, RFC 6188, RFC 7714)', () => {
  it('has a check for every vector in the fixture', () => {
    assert.deepEqual(
      file.vectors.map((v) => v.id).filter((id) => !checks[id]),
      [],
    )
    assert.equal(file.vectors.length, Object.keys(checks).length)
  })
  for (const v of file.vectors) {
    it(`matches ${v.id}`, () => {
      const check = checks[v.id]
      assert.ok(check, `no check for ${v.id}`)
      check(v)
    })
  }
})
