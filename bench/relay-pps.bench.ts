/**
 * CPU time per relayed packet of the media packet path on loopback (ADR 0040), at fixed packet rates.
 *
 * The relay runs in a child process (this file with `--relay MODE`); the parent drives it with the
 * native paced load generator (media-pod/native/src/loadgen.c: 250 µs ticks, one stream per relay
 * port pair, 50 packets/s per stream like 20 ms G.711, 160-octet payloads) and reads the child's
 * process.cpuUsage() delta (user + system, all its threads) over the run. Reported: µs of relay CPU per
 * packet, loss, and the one-way latency through the relay (p50/p99, generator → relay → sink).
 *
 * Modes: dgram (Node dgram, connected out-sockets), dgram-ts-srtp (dgram + SrtpContext RTP→SRTP),
 * dgram-ts-srtp2 (SRTP→SRTP in TypeScript), native (addon worker, recvmmsg/sendmmsg), native-srtp
 * (RTP→SRTP, OpenSSL engine), native-srtp2 (SRTP→SRTP, re-keyed, OpenSSL engine), native-srtp-libsrtp
 * (RTP→SRTP with Debian's libsrtp2), native-c200 (RTP→RTP, the worker pauses 200 µs after a busy round
 * to coalesce wake-ups).
 * Bounded: each run sends rate × SECONDS packets (≤ 200,000). Loopback only.
 * Usage: node bench/relay-pps.bench.ts [seconds=3] [rounds=1] [modes=all] [rates=10000,20000]
 */
import { fork } from 'node:child_process'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { SrtpContext } from '../lib/media/srtp/context.ts'
import { generateSdesKey } from '../lib/media/srtp/sdes.ts'
import { SRTP_SUITES } from '../lib/media/srtp/suites.ts'
import { buildMediaAddon } from '../media-pod/native/build.ts'
import { Latch, loadMediaAddon, type MediaAddon, SrtpEngine } from '../media-pod/native/media-addon.ts'

const SUITE = 'AES_CM_128_HMAC_SHA1_80'
const PROFILE = SRTP_SUITES[SUITE].libsrtpProfile
const MODES = [
  'dgram',
  'dgram-ts-srtp',
  'dgram-ts-srtp2',
  'native',
  'native-srtp',
  'native-srtp2',
  'native-srtp-libsrtp',
  'native-c200',
] as const
type Mode = (typeof MODES)[number]

interface ChildReport {
  cpuUs: number
  packets: number
}

buildMediaAddon()
const addonOrNull = loadMediaAddon()
if (!addonOrNull) throw new Error('media addon missing')
const addon: MediaAddon = addonOrNull

if (process.argv[2] === '--relay') {
  await relayChild(
    process.argv[3] as Mode,
    Number(process.argv[4]),
    Number(process.argv[5]),
    process.argv[6] ?? '',
    process.argv[7] ?? '',
  )
} else {
  await parent()
}

/** The relay under test: binds `streams` in/out pairs, reports its ports, measures its own CPU. */
async function relayChild(
  mode: Mode,
  streams: number,
  sinkPort: number,
  inKeyHex: string,
  outKeyHex: string,
) {
  const inKey = Buffer.from(inKeyHex, 'hex')
  const outKey = Buffer.from(outKeyHex, 'hex')
  const ports: number[] = []
  let packets = 0
  const sockets: Socket[] = []
  let nativeStats: (() => number) | null = null
  if (mode.startsWith('dgram')) {
    const srtpIn = mode === 'dgram-ts-srtp2'
    const srtpOut = mode !== 'dgram'
    for (let i = 0; i < streams; i++) {
      const a = createSocket('udp4')
      const b = createSocket('udp4')
      sockets.push(a, b)
      a.bind(0, '127.0.0.1')
      b.bind(0, '127.0.0.1')
      await Promise.all([once(a, 'listening'), once(b, 'listening')])
      b.connect(sinkPort, '127.0.0.1')
      await once(b, 'connect')
      // One context per leg and direction, as the SBC terminates SRTP per leg.
      const rx = srtpIn ? SrtpContext.fromMasterKey(SUITE, inKey.subarray(0, 16), inKey.subarray(16)) : null
      const tx = srtpOut
        ? SrtpContext.fromMasterKey(SUITE, outKey.subarray(0, 16), outKey.subarray(16))
        : null
      const scratch = Buffer.alloc(2048)
      a.on('message', (msg: Buffer) => {
        packets++
        if (!tx && !rx) {
          b.send(msg)
          return
        }
        msg.copy(scratch)
        let len = msg.length
        if (rx) len = rx.unprotectRtp(scratch, len)
        if (len < 0) return
        if (tx) len = tx.protectRtp(scratch, len)
        // send() may defer the copy, so hand it its own view of a fresh copy (allocation is part of the cost).
        b.send(Buffer.from(scratch.subarray(0, len)))
      })
      ports.push(a.address().port)
    }
  } else {
    const r = addon.relayCreate()
    const legs: number[] = []
    const engine = mode === 'native-srtp-libsrtp' ? SrtpEngine.libsrtp : SrtpEngine.openssl
    for (let i = 0; i < streams; i++) {
      const a = addon.relayBind(r, '127.0.0.1', 0)
      const b = addon.relayBind(r, '127.0.0.1', 0)
      addon.relayConnect(r, a.leg, b.leg)
      addon.relaySetPeer(r, b.leg, '127.0.0.1', sinkPort, Latch.off)
      if (mode.startsWith('native-srtp2'))
        addon.relaySetSrtp(r, a.leg, addon.srtpCreate(PROFILE, inKey, false, engine), null)
      if (mode.startsWith('native-srtp'))
        addon.relaySetSrtp(r, b.leg, null, addon.srtpCreate(PROFILE, outKey, true, engine))
      legs.push(a.leg)
      ports.push(a.port)
    }
    addon.relayStart(r, mode.endsWith('-c200') ? 200 : 0)
    nativeStats = () => legs.reduce((n, l) => n + addon.relayStats(r, l).packetsIn, 0)
  }
  let t0 = process.cpuUsage()
  let p0 = 0
  process.on('message', (m: string) => {
    if (m === 'start') {
      p0 = nativeStats ? nativeStats() : packets
      t0 = process.cpuUsage()
      process.send?.('started')
    } else if (m === 'stop') {
      const d = process.cpuUsage(t0)
      const report: ChildReport = {
        cpuUs: d.user + d.system,
        packets: (nativeStats ? nativeStats() : packets) - p0,
      }
      process.send?.(report)
    }
  })
  process.send?.({ ports })
}

async function parent() {
  const seconds = Math.min(Number(process.argv[2] ?? 3), 10)
  const rounds = Math.min(Number(process.argv[3] ?? 1), 5)
  const modes = (process.argv[4] && process.argv[4] !== 'all' ? process.argv[4].split(',') : MODES) as Mode[]
  const rates = (process.argv[5] ?? '10000,20000').split(',').map(Number)
  process.stdout.write(
    `relay-pps: node ${process.version}, ${seconds} s per run, ${rounds} round(s), 50 packets/s per stream, 160-octet payload\n`,
  )
  const results: Array<[string, number]> = []
  for (let round = 0; round < rounds; round++) {
    for (const rate of rates) {
      for (const mode of modes) {
        const line = await runOne(mode, rate, seconds)
        results.push([`${mode}@${rate}`, line])
      }
    }
  }
  const base = results.filter(([k]) => k.startsWith('dgram@')).map(([, v]) => v)
  if (base.length)
    process.stdout.write(`baseline: dgram relay ${Math.min(...base).toFixed(1)} µs/packet (best)\n`)
}

async function runOne(mode: Mode, rate: number, seconds: number): Promise<number> {
  const streams = Math.max(1, Math.round(rate / 50))
  const count = Math.min(rate * seconds, 200_000)
  const gen = addon.loadgenCreate()
  const inKey = generateSdesKey(SUITE)
  const outKey = generateSdesKey(SUITE)
  const hex = (k: { masterKey: Buffer; masterSalt: Buffer }) =>
    Buffer.concat([k.masterKey, k.masterSalt]).toString('hex')
  const child = fork(
    fileURLToPath(import.meta.url),
    ['--relay', mode, String(streams), String(gen.port), hex(inKey), hex(outKey)],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  )
  try {
    const [ready] = (await once(child, 'message')) as [{ ports: number[] }]
    child.send('start')
    await once(child, 'message')
    const srtp = mode.includes('srtp2')
      ? addon.srtpCreate(PROFILE, Buffer.from(hex(inKey), 'hex'), true, SrtpEngine.libsrtp) // one session, 200+ SSRCs
      : null
    const res = await addon.loadgenRun(gen.handle, ready.ports, rate, count, 160, srtp)
    child.send('stop')
    const [rep] = (await once(child, 'message')) as [ChildReport]
    const us = rep.cpuUs / Math.max(1, rep.packets)
    const loss = res.sent - res.received
    process.stdout.write(
      `${mode.padEnd(15)} ${String(rate).padStart(6)} pps target, ${Math.round(
        res.sent / (res.elapsedMs / 1000),
      )
        .toString()
        .padStart(6)} achieved, ${streams} streams: ` +
        `${us.toFixed(1).padStart(5)} µs CPU/packet, loss ${loss} of ${res.sent} (${((100 * loss) / res.sent).toFixed(2)}%), ` +
        `latency p50 ${res.p50Us ?? '-'} µs p99 ${res.p99Us ?? '-'} µs\n`,
    )
    return us
  } finally {
    child.kill('SIGTERM')
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
  }
}
