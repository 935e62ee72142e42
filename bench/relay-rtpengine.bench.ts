/**
 * rtpengine side by side (ADR 0040): the same native paced generator and sink as relay-pps.bench.ts,
 * through rtpengine (Debian rtpengine-daemon, userspace forwarding, `--table=-1`) set up over its NG
 * protocol (bencode over UDP). Reports rtpengine's CPU per packet (utime + stime from /proc/PID/stat)
 * for RTP→RTP, RTP→SRTP and SRTP→SRTP at the given rates. Loopback only; rtpengine is started and stopped (by its
 * PID) by this script. Usage: node bench/relay-rtpengine.bench.ts [seconds=3] [rounds=1] [rates=10000,20000]
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { formatSdesKeyParams, generateSdesKey } from '../lib/media/srtp/sdes.ts'
import { buildMediaAddon } from '../media-pod/native/build.ts'
import { loadMediaAddon, SrtpEngine } from '../media-pod/native/media-addon.ts'
import { freePort } from '../test/harness/free-port.ts'

type Bencode = string | number | Bencode[] | { [k: string]: Bencode }

function encode(v: Bencode): string {
  if (typeof v === 'number') return `i${v}e`
  if (typeof v === 'string') return `${Buffer.byteLength(v)}:${v}`
  if (Array.isArray(v)) return `l${v.map(encode).join('')}e`
  return `d${Object.keys(v)
    .sort()
    .map((k) => encode(k) + encode(v[k] as Bencode))
    .join('')}e`
}

function decode(s: Buffer, at = { i: 0 }): Bencode {
  const c = String.fromCharCode(s[at.i] as number)
  if (c === 'i') {
    const end = s.indexOf(0x65, at.i)
    const n = Number(s.subarray(at.i + 1, end).toString())
    at.i = end + 1
    return n
  }
  if (c === 'l' || c === 'd') {
    at.i++
    const items: Bencode[] = []
    while (s[at.i] !== 0x65) items.push(decode(s, at))
    at.i++
    if (c === 'l') return items
    const o: Record<string, Bencode> = {}
    for (let k = 0; k < items.length; k += 2) o[String(items[k])] = items[k + 1] as Bencode
    return o
  }
  const colon = s.indexOf(0x3a, at.i)
  const len = Number(s.subarray(at.i, colon).toString())
  const str = s.subarray(colon + 1, colon + 1 + len).toString()
  at.i = colon + 1 + len
  return str
}

buildMediaAddon()
const addon = loadMediaAddon()
if (!addon) throw new Error('media addon missing')

const seconds = Math.min(Number(process.argv[2] ?? 3), 10)
const rounds = Math.min(Number(process.argv[3] ?? 1), 5)
const rates = (process.argv[4] ?? '10000,20000').split(',').map(Number)
const ngPort = await freePort()
const base = 30000 + Math.floor(Math.random() * 100) * 200
const rtpengine: ChildProcess = spawn(
  '/usr/bin/rtpengine',
  [
    '--config-file=none',
    '-f',
    '-E',
    '-L',
    '3',
    '--table=-1',
    '-i',
    '127.0.0.1',
    '-n',
    `127.0.0.1:${ngPort}`,
    '-m',
    String(base),
    '-M',
    String(base + 9999),
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
)
let rtpengineLog = ''
rtpengine.stderr?.on('data', (d: Buffer) => {
  rtpengineLog = (rtpengineLog + d.toString()).slice(-4000)
})
const ng = createSocket('udp4')
ng.bind(0, '127.0.0.1')
await once(ng, 'listening')
let cookieSeq = 0

async function ngCall(msg: Record<string, Bencode>): Promise<Record<string, Bencode>> {
  // One cookie per request, retransmitted unchanged (NG answers a repeated cookie from its cache);
  // replies to other cookies (late answers to earlier retransmissions) are skipped.
  const cookie = `c${process.pid}_${cookieSeq++}`
  const payload = `${cookie} ${encode(msg)}`
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    ng.send(payload, ngPort, '127.0.0.1')
    const until = Date.now() + 500
    while (Date.now() < until) {
      try {
        const [reply] = (await once(ng, 'message', { signal: AbortSignal.timeout(until - Date.now()) })) as [
          Buffer,
        ]
        const sp = reply.indexOf(0x20)
        if (reply.subarray(0, sp).toString() === cookie)
          return decode(reply.subarray(sp + 1)) as Record<string, Bencode>
      } catch {
        break // timed out: retransmit
      }
    }
  }
  throw new Error(`rtpengine did not answer the NG ${msg.command}: ${rtpengineLog}`)
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return Number(f[11]) + Number(f[12]) // utime + stime (fields 14, 15)
}

const sdp = (port: number, proto: string, extra = '') =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} ${proto} 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n${extra}`

try {
  process.stdout.write(
    `relay-rtpengine: node ${process.version}, rtpengine userspace, ${seconds} s per run\n`,
  )
  const pid = rtpengine.pid as number
  for (let round = 0; round < rounds; round++) {
    for (const rate of rates) {
      for (const mode of ['RTP→RTP  ', 'RTP→SRTP ', 'SRTP→SRTP'] as const) {
        const srtp = mode !== 'RTP→RTP  '
        // SRTP→SRTP: the generator protects with one offerer key for every call (libsrtp, many SSRCs).
        const offerKey = generateSdesKey('AES_CM_128_HMAC_SHA1_80')
        const genSrtp =
          mode === 'SRTP→SRTP'
            ? addon.srtpCreate(
                1,
                Buffer.concat([offerKey.masterKey, offerKey.masterSalt]),
                true,
                SrtpEngine.libsrtp,
              )
            : null
        const gen = addon.loadgenCreate()
        const streams = Math.round(rate / 50)
        const ports: number[] = []
        for (let i = 0; i < streams; i++) {
          const callId = `bench-${round}-${rate}-${mode}-${i}`
          const offer = await ngCall({
            command: 'offer',
            'call-id': callId,
            'from-tag': 'a',
            sdp: genSrtp
              ? sdp(9, 'RTP/SAVP', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${formatSdesKeyParams(offerKey)}\r\n`)
              : sdp(9, 'RTP/AVP'),
            ...(mode === 'RTP→SRTP ' ? { 'transport-protocol': 'RTP/SAVP' } : {}),
          })
          if (offer.result !== 'ok') throw new Error(`offer: ${JSON.stringify(offer)}`)
          const key = formatSdesKeyParams(generateSdesKey('AES_CM_128_HMAC_SHA1_80'))
          // Accept rtpengine's offered AES_CM_128_HMAC_SHA1_80 line by its tag (RFC 4568 §7.1.3).
          const tag = /a=crypto:(\d+) AES_CM_128_HMAC_SHA1_80 /.exec(String(offer.sdp))?.[1] ?? '1'
          const answer = await ngCall({
            command: 'answer',
            'call-id': callId,
            'from-tag': 'a',
            'to-tag': 'b',
            sdp: srtp
              ? sdp(gen.port, 'RTP/SAVP', `a=crypto:${tag} AES_CM_128_HMAC_SHA1_80 ${key}\r\n`)
              : sdp(gen.port, 'RTP/AVP'),
          })
          const m = /m=audio (\d+)/.exec(String(answer.sdp))
          if (answer.result !== 'ok' || !m) throw new Error(`answer: ${JSON.stringify(answer)}`)
          ports.push(Number(m[1]))
        }
        const t0 = cpuTicks(pid)
        const res = await addon.loadgenRun(
          gen.handle,
          ports,
          rate,
          Math.min(rate * seconds, 200_000),
          160,
          genSrtp,
        )
        const cpuUs = (cpuTicks(pid) - t0) * 10_000 // CLK_TCK = 100
        const loss = res.sent - res.received
        process.stdout.write(
          `rtpengine ${mode} ${String(rate).padStart(6)} pps, ${streams} streams: ` +
            `${(cpuUs / res.sent).toFixed(1).padStart(5)} µs CPU/packet, loss ${loss} of ${res.sent}, ` +
            `latency p50 ${res.p50Us ?? '-'} µs p99 ${res.p99Us ?? '-'} µs\n`,
        )
        for (let i = 0; i < streams; i++) {
          await ngCall({
            command: 'delete',
            'call-id': `bench-${round}-${rate}-${mode}-${i}`,
            'from-tag': 'a',
          })
        }
      }
    }
  }
} finally {
  ng.close()
  rtpengine.kill('SIGTERM')
  if (rtpengine.exitCode === null) await once(rtpengine, 'exit')
}
