/**
 * SIP serialize benchmark, side by side with the npm `sip` package's `stringify`.
 * Run: `node bench/sip-serialize.bench.ts`. Bounded: ROUNDS × ITERATIONS per case. CPU time per
 * message (process.cpuUsage), best and median round, since the bench machine is shared.
 */
import { createRequire } from 'node:module'
import { INVITE_WITH_SDP, OK_200_WITH_SDP } from '../lib/sip/fixtures/bench-messages.ts'
import { parse } from '../lib/sip/message/parse.ts'
import { serialize } from '../lib/sip/message/serialize.ts'
import { builtOk, editedInvite } from './sip-parse-workload.ts'

const require = createRequire(import.meta.url)
const sip = require('sip') as { parse(b: Buffer): object; stringify(m: object): string }

const ROUNDS = 7
const ITERATIONS = 20_000
let sink = 0

function measure(fn: () => void): { best: number; median: number } {
  for (let i = 0; i < ITERATIONS; i++) fn()
  const perRound: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.cpuUsage()
    for (let i = 0; i < ITERATIONS; i++) fn()
    const d = process.cpuUsage(t0)
    perRound.push((d.user + d.system) / ITERATIONS)
  }
  perRound.sort((a, b) => a - b)
  return { best: perRound[0]!, median: perRound[Math.floor(ROUNDS / 2)]! }
}

// 1. Unmodified: a proxy-style pass-through gives the parsed bytes back.
const unmodified = parse(INVITE_WITH_SDP)
// 2. Edited the way an SBC edits a forwarded INVITE (own Via, Max-Forwards, Record-Route, SDP).
const edited = editedInvite()
// 3. A 200 OK built from the request (createResponse), with Contact and SDP.
const ok = builtOk()

const sipInvite = sip.parse(INVITE_WITH_SDP)
const sipOk = sip.parse(OK_200_WITH_SDP)

const cases: Array<[string, () => void, (() => void) | undefined]> = [
  [
    'INVITE unmodified',
    () => (sink += serialize(unmodified).length),
    () => (sink += sip.stringify(sipInvite).length),
  ],
  [
    'INVITE edited (Via, Max-Forwards, Record-Route, SDP)',
    () => (sink += serialize(edited).length),
    undefined,
  ],
  [
    '200 OK built by createResponse',
    () => (sink += serialize(ok).length),
    () => (sink += sip.stringify(sipOk).length),
  ],
]
console.log('| case | kube-sbc serialize µs (best / median) | sip@0.0.6 stringify µs (best / median) |')
console.log('| --- | --- | --- |')
for (const [name, ours, theirs] of cases) {
  const a = measure(ours)
  const b = theirs === undefined ? undefined : measure(theirs)
  const bText = b === undefined ? 'n/a' : `${b.best.toFixed(2)} / ${b.median.toFixed(2)}`
  console.log(`| ${name} | ${a.best.toFixed(2)} / ${a.median.toFixed(2)} | ${bText} |`)
}
console.log(`(${ROUNDS} rounds × ${ITERATIONS}; sink ${sink % 10})`)
