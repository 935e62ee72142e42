/**
 * The real relay (addon, worker threads, epoll, recvmmsg/sendmmsg) fed the fuzz harness's mutated
 * datagrams over loopback, for native-fuzz.int.test.ts, which runs this in a child Node with an
 * ASan/UBSan build of the addon preloaded and reads its exit status and stderr.
 *
 *   node relay-burst.ts ADDON DUMP SEEDS
 *
 * DUMP: the first SEEDS records the harness's seeds unchanged, then its mutations; records of profile (0 plain or STUN, else the SRTP profile the octets were protected with),
 * length (16-bit big-endian), octets (packet-fuzz --dump). Plain records go to two plain legs with ICE
 * credentials (one protecting toward its target with the OpenSSL engine, one with libsrtp and a payload
 * type map); SRTP records to two legs per profile (one unprotecting with each engine, protecting toward
 * the target with the other). Two workers. Exits 0 when every datagram was counted and the counters add
 * up; throws otherwise.
 */
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import { Latch, type MediaAddon, type NativeLegStats, SrtpEngine } from '../media-addon.ts'
import { FUZZ_ICE } from './corpus.ts'

const [addonPath, dumpPath, seedCount] = process.argv.slice(2)
if (!addonPath || !dumpPath || !seedCount) throw new Error('usage: relay-burst.ts ADDON DUMP SEEDS')
const addon = createRequire(import.meta.url)(addonPath) as MediaAddon

/** The master key ‖ salt of a profile: key_octet() in packet-fuzz.c. */
const KEY_LENGTH: Record<number, number> = { 1: 30, 2: 30, 7: 28, 8: 44 }
const key = (profile: number) =>
  Buffer.from(
    Array.from({ length: KEY_LENGTH[profile] as number }, (_, i) => (i * 29 + profile * 7 + 1) & 0xff),
  )

const records: { profile: number; packet: Buffer }[] = []
const dump = readFileSync(dumpPath)
for (let at = 0; at < dump.length; ) {
  const profile = dump[at] as number
  const len = dump.readUInt16BE(at + 1)
  records.push({ profile, packet: dump.subarray(at + 3, at + 3 + len) })
  at += 3 + len
}

const sink = createSocket('udp4')
sink.bind(0, '127.0.0.1')
await once(sink, 'listening')
sink.on('message', () => {}) // what the targets send: read and let go
const sender = createSocket('udp4')
sender.bind(0, '127.0.0.1')
await once(sender, 'listening')

const r = addon.relayCreate(2)
interface Pair {
  in: number
  port: number
  out: number
  sent: number
}
let nextWorker = 0
/** An in-leg (ICE credentials, latching) connected to a target leg that sends to the sink. */
function pair(
  inbound: ReturnType<MediaAddon['srtpCreate']> | null,
  outbound: ReturnType<MediaAddon['srtpCreate']>,
) {
  const worker = nextWorker++ % 2
  const a = addon.relayBind(r, '127.0.0.1', 0, worker)
  const b = addon.relayBind(r, '127.0.0.1', 0, worker)
  addon.relayConnect(r, a.leg, b.leg)
  addon.relaySetPeer(r, a.leg, null, 0, Latch.always)
  addon.relaySetPeer(r, b.leg, '127.0.0.1', sink.address().port, Latch.off)
  addon.relaySetSrtp(r, a.leg, inbound, null)
  addon.relaySetSrtp(r, b.leg, null, outbound)
  addon.relaySetIce(r, a.leg, FUZZ_ICE.ufrag, FUZZ_ICE.pwd)
  return { in: a.leg, port: a.port, out: b.leg, sent: 0 }
}
const plain = [
  pair(null, addon.srtpCreate(1, key(1), true, SrtpEngine.openssl)),
  pair(null, addon.srtpCreate(7, key(7), true, SrtpEngine.libsrtp)),
]
addon.relaySetPtMap(r, (plain[1] as Pair).out, Uint8Array.from([96, 111, 111, 96]))
const srtp = new Map<number, Pair[]>()
for (const p of [1, 2, 7, 8]) {
  srtp.set(p, [
    pair(
      addon.srtpCreate(p, key(p), false, SrtpEngine.openssl),
      addon.srtpCreate(p, key(p), true, SrtpEngine.libsrtp),
    ),
    pair(
      addon.srtpCreate(p, key(p), false, SrtpEngine.libsrtp),
      addon.srtpCreate(p, key(p), true, SrtpEngine.openssl),
    ),
  ])
}
const pairs = [...plain, ...[...srtp.values()].flat()]
addon.relayStart(r)

const received = () => pairs.reduce((n, p) => n + addon.relayStats(r, p.in).packetsIn, 0)
let sent = 0
/** Waits (bounded) until the workers counted every datagram sent: chunks small enough that no socket
 * buffer overflows, so a missing datagram is the relay's, not the kernel's. */
async function settle(): Promise<void> {
  for (let i = 0; received() < sent; i++) {
    if (i === 6000) throw new Error(`the relay counted ${received()} of ${sent} datagrams after 30 s`)
    await sleep(5)
  }
}
for (let i = 0; i < records.length; i++) {
  const { profile, packet } = records[i] as { profile: number; packet: Buffer }
  for (const p of profile === 0 ? plain : (srtp.get(profile) as Pair[])) {
    sender.send(packet, p.port, '127.0.0.1')
    p.sent++
    sent++
  }
  if (i % 32 === 31) await settle()
}
await settle()
addon.relayStop(r)

for (const p of pairs) {
  const a: NativeLegStats = addon.relayStats(r, p.in)
  const b: NativeLegStats = addon.relayStats(r, p.out)
  if (a.packetsIn !== p.sent) throw new Error(`leg ${p.in}: ${a.packetsIn} in, ${p.sent} sent`)
  // Every datagram has one fate: dropped, failed authentication, replay, a check answered or failed,
  // or forwarded (the target's packets out: nothing else sends through it).
  const fates = a.dropped + a.authFailures + a.replayDrops + a.iceChecks + a.iceFailures + b.packetsOut
  if (fates !== a.packetsIn)
    throw new Error(`leg ${p.in}: ${a.packetsIn} in, ${fates} accounted: ${JSON.stringify(a)}`)
}
for (const p of plain) {
  // The seeds come first, unchanged: the five valid checks among them succeed.
  if (addon.relayStats(r, p.in).iceChecks < 5) throw new Error(`leg ${p.in}: no successful ICE checks`)
}
const seeds = records.slice(0, Number(seedCount))
for (const [profile, list] of srtp) {
  const want = seeds.filter((x) => x.profile === profile).length
  for (const p of list) {
    // Each SRTP seed authenticates (first, unchanged) and is protected again and forwarded.
    const out = addon.relayStats(r, p.out).packetsOut
    if (want === 0 || out < want)
      throw new Error(`profile ${profile}: leg ${p.in} forwarded ${out} of ${want} seeds`)
  }
}
sender.close()
sink.close()
process.stdout.write(`${JSON.stringify({ datagrams: sent, legs: pairs.length * 2 })}\n`)
