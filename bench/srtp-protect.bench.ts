/**
 * CPU time per SRTP protect/unprotect of a 20 ms G.711 packet (12 + 160 octets), three ways (ADR 0040):
 *   (a) naïve node:crypto: createCipheriv('aes-128-ctr') + createHmac('sha1') per packet;
 *   (b) optimised node:crypto: SrtpContext (one reused ECB cipher for the keystream, precomputed HMAC
 *       pads + crypto.hash, in-place buffers; GCM still needs a cipher object per packet);
 *   (c) libsrtp through the N-API addon (media-pod/native), in place (Debian's libsrtp2: NSS crypto);
 *   (d) the addon's own transforms on OpenSSL libcrypto (media-pod/native/src/ossl-srtp.c).
 * Bounded: COUNT packets per variant per round, ROUNDS rounds; prints the best and median µs/packet of
 * process CPU time (user + system). Usage: node bench/srtp-protect.bench.ts [count] [rounds]
 */
import { createCipheriv, createHmac } from 'node:crypto'
import { SrtpContext } from '../lib/media/srtp/context.ts'
import { deriveSessionKeys } from '../lib/media/srtp/kdf.ts'
import { generateSdesKey } from '../lib/media/srtp/sdes.ts'
import { SRTP_SUITES, type SrtpSuiteName } from '../lib/media/srtp/suites.ts'
import { buildMediaAddon } from '../media-pod/native/build.ts'
import { loadMediaAddon, SRTP_MAX_TRAILER_LEN, SrtpEngine } from '../media-pod/native/media-addon.ts'

// At most 60,000 so that one round's sequence numbers never wrap (unprotect replays pre-protected packets).
const COUNT = Math.min(Number(process.argv[2] ?? 20_000), 60_000)
const ROUNDS = Math.min(Number(process.argv[3] ?? 3), 10)
const PAYLOAD = 160

buildMediaAddon()
const addon = loadMediaAddon()
if (!addon) throw new Error('media addon missing')
const native = addon

const packet = Buffer.alloc(12 + PAYLOAD + SRTP_MAX_TRAILER_LEN)
packet[0] = 0x80
packet.writeUInt32BE(0x12345678, 8)
packet.fill(0xd5, 12, 12 + PAYLOAD)

/** Runs `fn(seq)` COUNT times; returns µs of process CPU per call. */
function measure(fn: (seq: number) => void): number {
  for (let i = 0; i < 500; i++) fn(i) // warm-up (JIT, OpenSSL tables)
  const t0 = process.cpuUsage()
  for (let i = 0; i < COUNT; i++) fn((i + 500) & 0xffff)
  const d = process.cpuUsage(t0)
  return (d.user + d.system) / COUNT
}

function naiveProtect(suite: SrtpSuiteName): (seq: number) => void {
  const k = generateSdesKey(suite)
  const keys = deriveSessionKeys(SRTP_SUITES[suite], k.masterKey, k.masterSalt).rtp
  const iv = Buffer.alloc(16)
  const roc = Buffer.alloc(4)
  return (seq) => {
    packet.writeUInt16BE(seq, 2)
    keys.salt.copy(iv, 0, 0, 14)
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0x12345678) >>> 0, 4)
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12)
    const c = createCipheriv('aes-128-ctr', keys.encryptionKey, iv)
    const ct = c.update(packet.subarray(12, 12 + PAYLOAD))
    const h = createHmac('sha1', keys.authenticationKey)
    h.update(packet.subarray(0, 12))
    h.update(ct)
    h.update(roc)
    h.digest().copy(packet, 12 + PAYLOAD, 0, 10)
  }
}

function tsProtect(suite: SrtpSuiteName): (seq: number) => void {
  const k = generateSdesKey(suite)
  let ctx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
  return (seq) => {
    // Each round restarts at SEQ 0: a fresh sender, as a sender never goes back (RFC 3711 §9.1).
    if (seq === 0) ctx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
    packet.writeUInt16BE(seq, 2)
    if (ctx.protectRtp(packet, 12 + PAYLOAD) < 0) throw new Error('protect failed')
  }
}

function tsUnprotect(suite: SrtpSuiteName): (seq: number) => void {
  const k = generateSdesKey(suite)
  const tx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
  let rx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
  const pre = preProtect((b, seq) => {
    b.writeUInt16BE(seq, 2)
    return tx.protectRtp(b, 12 + PAYLOAD)
  })
  return (seq) => {
    // Each round restarts at SEQ 0: a fresh receiver, or everything would be a replay.
    if (seq === 0) rx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
    const p = pre[seq] as Buffer
    p.copy(packet)
    if (rx.unprotectRtp(packet, 12 + PAYLOAD + SRTP_SUITES[suite].rtpTagLength) < 0)
      throw new Error('unprotect failed')
  }
}

function nativeProtect(suite: SrtpSuiteName, engine: SrtpEngine): (seq: number) => void {
  const k = generateSdesKey(suite)
  const key = Buffer.concat([k.masterKey, k.masterSalt])
  let s = native.srtpCreate(SRTP_SUITES[suite].libsrtpProfile, key, true, engine)
  return (seq) => {
    // A fresh session per round: libsrtp rejects a sender going back in SEQ (replay_old), which would
    // otherwise be measured as a (very fast) failure.
    if (seq === 0) s = native.srtpCreate(SRTP_SUITES[suite].libsrtpProfile, key, true, engine)
    packet.writeUInt16BE(seq, 2)
    if (native.srtpProtect(s, packet, 12 + PAYLOAD) < 0) throw new Error('protect failed')
  }
}

function nativeUnprotect(suite: SrtpSuiteName, engine: SrtpEngine): (seq: number) => void {
  const k = generateSdesKey(suite)
  const key = Buffer.concat([k.masterKey, k.masterSalt])
  const tx = native.srtpCreate(SRTP_SUITES[suite].libsrtpProfile, key, true, engine)
  let rx = native.srtpCreate(SRTP_SUITES[suite].libsrtpProfile, key, false, engine)
  const pre = preProtect((b, seq) => {
    b.writeUInt16BE(seq, 2)
    return native.srtpProtect(tx, b, 12 + PAYLOAD)
  })
  return (seq) => {
    if (seq === 0) rx = native.srtpCreate(SRTP_SUITES[suite].libsrtpProfile, key, false, engine)
    const p = pre[seq] as Buffer
    p.copy(packet)
    if (native.srtpUnprotect(rx, packet, 12 + PAYLOAD + SRTP_SUITES[suite].rtpTagLength) < 0)
      throw new Error('unprotect failed')
  }
}

/** 65,536 protected packets, one per sequence number, so that unprotect never sees a replay. */
function preProtect(protect: (b: Buffer, seq: number) => number): Buffer[] {
  const out: Buffer[] = []
  for (let seq = 0; seq < 0x10000; seq++) {
    const b = Buffer.alloc(12 + PAYLOAD + SRTP_MAX_TRAILER_LEN)
    packet.copy(b)
    protect(b, seq)
    out.push(b)
  }
  return out
}

const variants: Array<[string, () => (seq: number) => void]> = [
  ['(a) naive node:crypto protect AES_CM_128_HMAC_SHA1_80', () => naiveProtect('AES_CM_128_HMAC_SHA1_80')],
  ['(b) SrtpContext protect AES_CM_128_HMAC_SHA1_80', () => tsProtect('AES_CM_128_HMAC_SHA1_80')],
  ['(b) SrtpContext unprotect AES_CM_128_HMAC_SHA1_80', () => tsUnprotect('AES_CM_128_HMAC_SHA1_80')],
  ['(b) SrtpContext protect AEAD_AES_128_GCM', () => tsProtect('AEAD_AES_128_GCM')],
  ['(b) SrtpContext unprotect AEAD_AES_128_GCM', () => tsUnprotect('AEAD_AES_128_GCM')],
]
for (const [label, engine] of [
  ['(c) libsrtp addon', SrtpEngine.libsrtp],
  ['(d) OpenSSL addon', SrtpEngine.openssl],
] as const) {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const) {
    variants.push([`${label} protect ${suite}`, () => nativeProtect(suite, engine)])
    variants.push([`${label} unprotect ${suite}`, () => nativeUnprotect(suite, engine)])
  }
}

process.stdout.write(
  `srtp-protect: node ${process.version}, ${COUNT} packets × ${ROUNDS} rounds, ${PAYLOAD}-octet payload\n`,
)
let baseline = 0
for (const [name, make] of variants) {
  const fn = make()
  const runs = Array.from({ length: ROUNDS }, () => measure(fn)).sort((x, y) => x - y)
  const best = runs[0] as number
  const median = runs[Math.floor(runs.length / 2)] as number
  if (!baseline) baseline = median
  process.stdout.write(
    `${name.padEnd(56)} best ${best.toFixed(2).padStart(6)} µs  median ${median.toFixed(2).padStart(6)} µs  ` +
      `${Math.round(1e6 / median)
        .toLocaleString('en')
        .padStart(9)} packets/s of one core  ×${(baseline / median).toFixed(1)} vs (a)\n`,
  )
}
process.stdout.write(`baseline: (a) naive node:crypto ${baseline.toFixed(2)} µs/packet\n`)
