/**
 * Per-call CPU of small signalling hot-path pieces (issue #4), each beside the code it replaced, in
 * one process: ns per operation, best and median of ROUNDS. Run:
 * `node bench/signalling-hotpath.bench.ts`. Bounded: ROUNDS × ITERATIONS per case.
 */
import { isoTime } from '../signalling-pod/src/cdr.ts'

const ROUNDS = 9
const ITERATIONS = 200_000
let sink = 0

// CDR times: start, answer and end of a call a few seconds apart, as buildCdr formats them.
const T0 = 1_764_225_000_000
const cases: [string, (i: number) => void][] = [
  ['cdr time: Date.toISOString', (i) => (sink += new Date(T0 + i * 37).toISOString().length)],
  ['cdr time: isoTime', (i) => (sink += isoTime(T0 + i * 37).length)],
]

for (const [name, run] of cases) {
  const perOp: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < ITERATIONS; i++) run(i)
    perOp.push(Number(process.hrtime.bigint() - t) / ITERATIONS)
  }
  perOp.sort((a, b) => a - b)
  console.log(
    `${name.padEnd(40)} best ${(perOp[0] ?? 0).toFixed(0)} ns  median ${(perOp[ROUNDS >> 1] ?? 0).toFixed(0)} ns`,
  )
}
if (sink === 0) console.log('(unused)')
