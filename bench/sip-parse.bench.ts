/**
 * SIP parse benchmark: our parser against the npm `sip` package's `parse`, side by side in one run.
 * Run: `node bench/sip-parse.bench.ts`. Bounded: ROUNDS × ITERATIONS parses per case, well under a
 * minute in total. Reports the best and median round in µs per message.
 */
import { INVITE_WITH_SDP, OK_200_WITH_SDP } from '../lib/sip/fixtures/bench-messages.ts'
import { ours, sink, theirs } from './sip-parse-workload.ts'

const ROUNDS = 9
const ITERATIONS = 20_000

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
console.log(`(${ROUNDS} rounds × ${ITERATIONS} parses; sink ${sink.value % 10})`)
