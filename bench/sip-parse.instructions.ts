/**
 * SIP parse cost in machine instructions, ours against npm `sip@0.0.6`: instruction counts do not
 * depend on how loaded the (shared) machine is, unlike wall or CPU time.
 *
 * Run: `node bench/sip-parse.instructions.ts [--message invite|ok]` (parse, ours and npm `sip`), or
 * `... --serialize [--message edited|ok]` (our serialize; for `ok` also npm `sip`'s stringify of the
 * 200 OK it parsed). Needs valgrind. For each
 * parser it runs this file twice as a child under `valgrind --tool=callgrind` (JIT on,
 * `--smc-check=all-non-file` as V8's generated code requires, `--single-threaded` so that
 * compilation and GC run on the measured thread), each time parsing WARMUP messages and then LO or
 * HI more. The difference of the two totals divided by HI - LO is the steady-state cost of one
 * parse, GC included: start-up, module loading, warm-up and optimising compilation are in both
 * runs and cancel (WARMUP is large enough that the last function is optimised before it ends;
 * check with `--trace-opt` after a change). Bounded: 4 child runs of 1–3 minutes each, each killed
 * after 15 minutes.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { INVITE_WITH_SDP, OK_200_WITH_SDP } from '../lib/sip/fixtures/bench-messages.ts'
import { serialize } from '../lib/sip/message/serialize.ts'
import { builtOk, editedInvite, ours, sink, theirOk, theirStringify, theirs } from './sip-parse-workload.ts'

const WARMUP = 15_000
const LO = 1000
const HI = 5000

function workload(which: string, messageName: string): () => void {
  if (which === 'serialize') {
    // Serialize (`--message edited|ok`): an edited INVITE, or a createResponse-built 200 OK;
    // against npm sip's stringify of the 200 OK it parsed.
    const m = messageName === 'ok' ? builtOk() : editedInvite()
    return () => {
      sink.value += serialize(m).length
    }
  }
  if (which === 'stringify') return () => theirStringify(theirOk)
  const fn = which === 'ours' ? ours : theirs
  const buf = messageName === 'ok' ? OK_200_WITH_SDP : INVITE_WITH_SDP
  return () => fn(buf)
}

function child(which: string, messageName: string, n: number): void {
  const fn = workload(which, messageName)
  // One function runs both phases, so the measured loop is the warmed-up one (no on-stack
  // replacement compiled only in the longer run).
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) fn()
  }
  run(WARMUP)
  run(n)
  process.stdout.write(`${sink.value}\n`)
}

function instructions(which: string, messageName: string, n: number): number {
  const self = fileURLToPath(import.meta.url)
  const r = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--smc-check=all-non-file',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      '--single-threaded',
      self,
      '--child',
      which,
      messageName,
      String(n),
    ],
    { encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 16 << 20 },
  )
  const m = /Collected : (\d+)/.exec(r.stderr ?? '')
  if (r.status !== 0 || m === null) {
    throw new Error(
      `valgrind run ${which} ${n} failed (status ${r.status}): ${(r.stderr ?? '').slice(-2000)}`,
    )
  }
  return Number(m[1])
}

const args = process.argv.slice(2)
if (args[0] === '--child') {
  child(args[1]!, args[2]!, Number(args[3]))
} else {
  const ser = args.includes('--serialize')
  const mi = args.indexOf('--message')
  const messageName = mi >= 0 ? (args[mi + 1] ?? 'invite') : ser ? 'edited' : 'invite'
  const per: Record<string, number> = {}
  const pair = ser ? ['serialize', 'stringify'] : ['ours', 'theirs']
  const sides = ser && messageName !== 'ok' ? ['serialize'] : pair
  for (const which of sides) {
    const lo = instructions(which, messageName, LO)
    const hi = instructions(which, messageName, HI)
    per[which] = (hi - lo) / (HI - LO)
    console.log(`${which}: ${lo} / ${hi} instructions for ${WARMUP}+${LO} / ${WARMUP}+${HI} parses`)
  }
  const o = per[pair[0]!]!
  const t = per[pair[1]!]
  const what = ser ? 'serialize / stringify' : 'parse'
  console.log(`| message | kube-sbc ${what} (instructions) | sip@0.0.6 (instructions) | ratio |`)
  console.log('| --- | --- | --- | --- |')
  const ratio = t === undefined ? 'n/a' : `${(t / o).toFixed(2)}×`
  console.log(`| ${messageName} | ${Math.round(o)} | ${t === undefined ? 'n/a' : Math.round(t)} | ${ratio} |`)
}
