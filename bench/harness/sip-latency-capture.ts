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
import { SipRequest } from '../../lib/sip/message/message.ts'
import { parse } from '../../lib/sip/message/parse.ts'
import type { Datagram } from '../../test/harness/udp-pcap.ts'
import { percentile } from './sipp-load.ts'

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
  return { p50: percentile(us, 50), p90: percentile(us, 90), p99: percentile(us, 99), max: Math.max(...us) }
}
