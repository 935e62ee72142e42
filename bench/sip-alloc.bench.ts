/**
 * Bytes allocated on the JS heap per SIP parse and per serialize (what drives young-generation GC
 * in the signalling process), for the workloads of `sip-parse-workload.ts`.
 *
 * Run: `node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 bench/sip-alloc.bench.ts`.
 * The semi-space is made large enough that no scavenge runs inside a measured window (10 000
 * operations of at most ~10 kB), so the growth of `heapUsed` over the window is what was allocated.
 * Each case is warmed up (20 000 operations, so the optimised code is measured) and then measured
 * in 5 windows; the smallest is printed. Bounded: 70 000 operations per case.
 */
import { INVITE_WITH_SDP, OK_200_WITH_SDP } from '../lib/sip/fixtures/bench-messages.ts'
import { createResponse } from '../lib/sip/message/create-response.ts'
import { parse } from '../lib/sip/message/parse.ts'
import { serialize } from '../lib/sip/message/serialize.ts'
import { builtOk, editedInvite, ours, sink } from './sip-parse-workload.ts'

const WARMUP = 20_000
const N = 10_000
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc (see the header of this file)')

function measure(name: string, fn: () => void): void {
  for (let i = 0; i < WARMUP; i++) fn()
  let best = Number.POSITIVE_INFINITY
  for (let r = 0; r < 5; r++) {
    gc!()
    const a = process.memoryUsage().heapUsed
    for (let i = 0; i < N; i++) fn()
    const b = process.memoryUsage().heapUsed
    best = Math.min(best, (b - a) / N)
  }
  console.log(`| ${name} | ${Math.round(best)} |`)
}

const edited = editedInvite()
const ok = builtOk()
const req = parse(INVITE_WITH_SDP)
if (req.kind !== 'request') throw new Error('not a request')
console.log('| operation | bytes allocated |')
console.log('| --- | --- |')
measure('parse INVITE with SDP, read what routing reads', () => ours(INVITE_WITH_SDP))
measure('parse 200 OK with SDP, read what routing reads', () => ours(OK_200_WITH_SDP))
measure('serialize INVITE edited', () => {
  sink.value += serialize(edited).length
})
measure('serialize 200 OK built by createResponse', () => {
  sink.value += serialize(ok).length
})
measure('createResponse 180 to the INVITE, serialized', () => {
  sink.value += serialize(createResponse(req, 180, { toTag: '9fxced76sl' })).length
})
