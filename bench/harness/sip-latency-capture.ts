/**
 * Added latency of a SIP server from a packet capture on loopback (kernel timestamps, µs), for the
 * signalling benchmark's `--latency` pass. SIPp's own response times are whole milliseconds from a
 * coarse clock (every p99 it reported here was a multiple of 4 ms), too coarse for a ≤ 5 ms goal.
 *
 * The benchmark caller puts its call number in the Subject (`Performance Test N`), which SIP servers
 * pass on (kube-sbc: an end-to-end header; Kamailio: a proxy), so the caller-side leg and the
 * callee-side leg of one call are tied even when a B2BUA gives them different Call-IDs. Per call:
 * - INVITE→100: the caller's INVITE reaching the server → the server's 100 leaving toward the caller;
 * - INVITE→180 added: (caller's INVITE in → 180 out to the caller) minus (INVITE out to the callee →
 *   the callee's 180 in), i.e. the server's time on the INVITE plus its time on the 180.
 * First transmissions only (a retransmission does not move a time already taken).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { SipRequest } from '../../lib/sip/message/message.ts'
import { parse } from '../../lib/sip/message/parse.ts'

export interface Capture {
  /** Stops dumpcap (it writes what it holds) and resolves when it has exited. */
  stop(): Promise<void>
}

/** dumpcap on `lo` for UDP to or from `ports`, writing a classic pcap `file`; resolves once capturing. */
export async function startCapture(ports: readonly number[], file: string): Promise<Capture> {
  const filter = `udp and (${ports.map((p) => `port ${p}`).join(' or ')})`
  const child = spawn('dumpcap', ['-q', '-i', 'lo', '-P', '-B', '64', '-f', filter, '-w', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  let err = ''
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`dumpcap did not start capturing: ${err}`)), 10_000)
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
      // dumpcap says so on stderr even with -q once the capture is open.
      if (err.includes('Capturing on')) {
        clearTimeout(t)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`dumpcap exited (${code}): ${err}`))
    })
  })
  return {
    async stop() {
      child.kill('SIGINT')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

export interface Datagram {
  /** Kernel timestamp, µs since the epoch. */
  us: number
  srcPort: number
  dstPort: number
  payload: Buffer
}

/** The IPv4 UDP datagrams of a classic pcap file (Ethernet or Linux cooked link type), in file order. */
export function udpDatagramsOf(file: string): Datagram[] {
  const d = readFileSync(file)
  const magic = d.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  const m = le ? magic : d.readUInt32BE(0)
  if (m !== 0xa1b2c3d4 && m !== 0xa1b23c4d) throw new Error(`${file}: not a classic pcap file`)
  const nanos = m === 0xa1b23c4d
  const u32 = (o: number) => (le ? d.readUInt32LE(o) : d.readUInt32BE(o))
  const link = u32(20)
  // Ethernet (lo on Linux) has a 14-octet header, Linux cooked capture (SLL) 16, both end in EtherType.
  const l2 = link === 1 ? 14 : link === 113 ? 16 : -1
  if (l2 < 0) throw new Error(`${file}: link type ${link}, expected Ethernet (1) or Linux cooked (113)`)
  const out: Datagram[] = []
  for (let o = 24; o + 16 <= d.length; ) {
    const sec = u32(o)
    const frac = u32(o + 4)
    const caplen = u32(o + 8)
    const p = d.subarray(o + 16, o + 16 + caplen)
    o += 16 + caplen
    if (p.length < l2 + 28 || p.readUInt16BE(l2 - 2) !== 0x0800 || p[l2 + 9] !== 17) continue
    const ihl = (p[l2]! & 0x0f) * 4
    const udp = l2 + ihl
    out.push({
      us: sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac),
      srcPort: p.readUInt16BE(udp),
      dstPort: p.readUInt16BE(udp + 2),
      payload: p.subarray(udp + 8),
    })
  }
  return out
}

export interface Spread {
  p50: number
  p90: number
  p99: number
  max: number
}

export interface AddedLatency {
  calls: number
  inviteTo100: Spread | null
  inviteTo180: Spread | null
}

/** Per-call added latency (see the file comment) of the calls between `uacPort` and `uasPort`, in µs. */
export function addedLatency(datagrams: readonly Datagram[], uacPort: number, uasPort: number): AddedLatency {
  const first = new Map<string, number>()
  const take = (key: string, us: number) => {
    if (!first.has(key)) first.set(key, us)
  }
  const callOfBLeg = new Map<string, string>()
  const callOfALeg = new Map<string, string>()
  for (const g of datagrams) {
    let msg: ReturnType<typeof parse>
    try {
      msg = parse(g.payload)
    } catch {
      continue
    }
    const callId = msg.callId ?? ''
    if (msg instanceof SipRequest) {
      if (msg.method !== 'INVITE') continue
      const n = /(\d+)\s*$/.exec(msg.header('Subject') ?? '')?.[1]
      if (n === undefined) continue
      if (g.srcPort === uacPort) {
        callOfALeg.set(callId, n)
        take(`inv-in ${n}`, g.us)
      }
      if (g.dstPort === uasPort) {
        callOfBLeg.set(callId, n)
        take(`inv-out ${n}`, g.us)
      }
      continue
    }
    if (msg.cseq?.method !== 'INVITE') continue
    if (g.dstPort === uacPort) {
      const n = callOfALeg.get(callId)
      if (n !== undefined && (msg.status === 100 || msg.status === 180)) take(`${msg.status}-out ${n}`, g.us)
    }
    if (g.srcPort === uasPort && msg.status === 180) {
      const n = callOfBLeg.get(callId)
      if (n !== undefined) take(`180-in ${n}`, g.us)
    }
  }
  const to100: number[] = []
  const to180: number[] = []
  for (const n of new Set(callOfALeg.values())) {
    const invIn = first.get(`inv-in ${n}`)
    if (invIn === undefined) continue
    const t100 = first.get(`100-out ${n}`)
    if (t100 !== undefined) to100.push(t100 - invIn)
    const t180 = first.get(`180-out ${n}`)
    const invOut = first.get(`inv-out ${n}`)
    const in180 = first.get(`180-in ${n}`)
    if (t180 !== undefined && invOut !== undefined && in180 !== undefined)
      to180.push(t180 - invIn - (in180 - invOut))
  }
  return { calls: callOfALeg.size, inviteTo100: summary(to100), inviteTo180: summary(to180) }
}

function summary(us: number[]): Spread | null {
  if (us.length === 0) return null
  const s = us.sort((a, b) => a - b)
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number
  return { p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1] as number }
}
