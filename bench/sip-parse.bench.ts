/**
 * SIP parse benchmark: our parser against the npm `sip` package's `parse`, side by side in one run.
 * Run: `node bench/sip-parse.bench.ts`. Bounded: ROUNDS × ITERATIONS parses per case, well under a
 * minute in total. Reports the best and median round in µs per message.
 */
import { createRequire } from 'node:module'
import { INVITE_WITH_SDP, OK_200_WITH_SDP } from '../lib/sip/fixtures/bench-messages.ts'
import { nameAddrTag } from '../lib/sip/message/headers/name-addr.ts'
import { viaBranch } from '../lib/sip/message/headers/via.ts'
import { parse } from '../lib/sip/message/parse.ts'

const require = createRequire(import.meta.url)
const sip = require('sip') as {
  parse(b: Buffer): { method?: string; headers: Record<string, unknown> } | undefined
}

const ROUNDS = 9
const ITERATIONS = 20_000
let sink = 0

/** Ours, to the point routing can use it: every field the router and transaction layer read. */
function ours(buf: Buffer): void {
  const m = parse(buf)
  const via = m.topVia!
  sink += (viaBranch(via)?.length ?? 0) + via.host.length
  sink += m.callId!.length + m.cseq!.seq + nameAddrTag(m.from!)!.length + (m.toTag?.length ?? 0)
  sink += m.contacts.length + (m.maxForwards ?? 0) + (m.contentLength ?? 0) + m.body.length
  if (m.kind === 'request') sink += m.method.length + (m.uri.kind === 'sip' ? m.uri.host.length : 0)
  else sink += m.status
}

/** The `sip` package: its parse() already parses Via, From, To, CSeq, Contact, Content-Length. */
function theirs(buf: Buffer): void {
  const m = sip.parse(buf)
  if (m === undefined) throw new Error('sip.parse failed')
  const h = m.headers as {
    via: Array<{ params: { branch?: string }; host: string }>
    'call-id': string
    cseq: { seq: number }
    from: { params: { tag?: string } }
    to: { params: { tag?: string } }
    contact?: unknown[]
    'max-forwards'?: string
    'content-length'?: number
  }
  sink += (h.via[0]!.params.branch?.length ?? 0) + h.via[0]!.host.length
  sink += h['call-id'].length + h.cseq.seq + (h.from.params.tag?.length ?? 0) + (h.to.params.tag?.length ?? 0)
  sink += (h.contact?.length ?? 0) + Number(h['max-forwards'] ?? 0) + (h['content-length'] ?? 0)
}

function round(fn: (b: Buffer) => void, buf: Buffer): number {
  // CPU time of this process, not wall time: the bench machine is shared, and waiting for a core
  // is not parser cost.
  const t0 = process.cpuUsage()
  for (let i = 0; i < ITERATIONS; i++) fn(buf)
  const d = process.cpuUsage(t0)
  return (d.user + d.system) / ITERATIONS
}

/** Rounds of both parsers alternate, so both see the same machine load. */
function compare(buf: Buffer): { ours: number[]; theirs: number[] } {
  for (let i = 0; i < ITERATIONS; i++) {
    ours(buf)
    theirs(buf)
  }
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    a.push(round(ours, buf))
    b.push(round(theirs, buf))
  }
  return { ours: a.sort((x, y) => x - y), theirs: b.sort((x, y) => x - y) }
}

const median = (xs: number[]): number => xs[Math.floor(xs.length / 2)]!
const rows: string[] = []
for (const [name, buf] of [
  ['INVITE with SDP', INVITE_WITH_SDP],
  ['200 OK with SDP', OK_200_WITH_SDP],
] as const) {
  const { ours: a, theirs: b } = compare(buf)
  rows.push(
    `| ${name} (${buf.length} B) | ${a[0]!.toFixed(2)} / ${median(a).toFixed(2)} | ${b[0]!.toFixed(2)} / ${median(b).toFixed(2)} | ${(b[0]! / a[0]!).toFixed(1)}× / ${(median(b) / median(a)).toFixed(1)}× |`,
  )
}
console.log(
  '| message | kube-sbc parse µs (best / median) | sip@0.0.6 parse µs (best / median) | speed-up (best / median) |',
)
console.log('| --- | --- | --- | --- |')
for (const r of rows) console.log(r)
console.log(`(${ROUNDS} rounds × ${ITERATIONS} parses; sink ${sink % 10})`)
