/**
 * Per-call CPU of small signalling hot-path pieces (issue #4), each beside the code it replaced, in
 * one process: ns per operation, best and median of ROUNDS. Run:
 * `node bench/signalling-hotpath.bench.ts`. Bounded: ROUNDS × ITERATIONS per case.
 */
import { Registry } from 'prom-client'
import { isoTime } from '../signalling-pod/src/cdr.ts'
import { SignallingMetrics } from '../signalling-pod/src/metrics.ts'
import type { Decision } from '../signalling-pod/src/pipeline/types.ts'

const ROUNDS = 9
const ITERATIONS = 200_000
let sink = 0

// CDR times: start, answer and end of a call a few seconds apart, as buildCdr formats them.
const T0 = 1_764_225_000_000
// The metric updates of one answered call that ends with a BYE, as the B2BUA makes them: through
// prom-client's labelled inc (before) and through SignallingMetrics' tallies (after).
const metrics = new SignallingMetrics(new Registry())
const GROUPS = ['carrier-a', 'pbx-b', 'webex']
const ROUTE: Decision = {
  type: 'route',
  sourceGroup: 'carrier-a',
  rule: 'default',
  targets: [],
  failover: { onStatusCodes: [], onTimeout: false },
}
function metricsPromClient(i: number): void {
  const a = GROUPS[i % 3] as string
  const b = GROUPS[(i + 1) % 3] as string
  const m = metrics
  m.transactions.inc({ kind: 'server', method: 'INVITE' })
  m.callsAttempted.inc({ ip_group: a, direction: 'inbound' })
  m.routingDecisions.inc({ type: 'route', rule: 'default' })
  m.callsAttempted.inc({ ip_group: b, direction: 'outbound' })
  m.transactions.inc({ kind: 'client', method: 'INVITE' })
  m.callsAnswered.inc({ ip_group: a, direction: 'inbound' })
  m.callsActive.inc({ ip_group: a })
  m.callsAnswered.inc({ ip_group: b, direction: 'outbound' })
  m.callsActive.inc({ ip_group: b })
  m.transactions.inc({ kind: 'server', method: 'BYE' })
  m.transactions.inc({ kind: 'client', method: 'BYE' })
  m.callsActive.dec({ ip_group: a })
  m.callsActive.dec({ ip_group: b })
}
function metricsTally(i: number): void {
  const a = GROUPS[i % 3] as string
  const b = GROUPS[(i + 1) % 3] as string
  const m = metrics
  m.recordTransaction('server', 'INVITE')
  m.recordAttempt(a, 'inbound')
  m.recordDecision(ROUTE)
  m.recordAttempt(b, 'outbound')
  m.recordTransaction('client', 'INVITE')
  m.recordFinal(a, 'inbound', 200)
  m.callActive(a, 1)
  m.recordFinal(b, 'outbound', 200)
  m.callActive(b, 1)
  m.recordTransaction('server', 'BYE')
  m.recordTransaction('client', 'BYE')
  m.callActive(a, -1)
  m.callActive(b, -1)
}

const cases: [string, (i: number) => void][] = [
  ['metrics of a call: prom-client inc(labels)', metricsPromClient],
  ['metrics of a call: SignallingMetrics tally', metricsTally],
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
