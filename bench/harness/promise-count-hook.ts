/**
 * Preloaded into a kube-sbc process (`NODE_OPTIONS=--import=<this file>`) by
 * bench/signalling-promises.bench.ts: counts every promise V8 creates (async function calls,
 * `await`s, `new Promise`, `.then`) and every promise reaction job run (one microtask each), and
 * samples where promises are created. On SIGUSR2 it writes the cumulative figures to
 * `$SBC_PROMISE_COUNT_OUT.<n>` (n = 1, 2, …), synchronously, so the benchmark reads a snapshot
 * before and after a measured load and divides the difference by the calls.
 *
 * With `SBC_PROMISE_SAMPLE_EVERY=k` (k > 0) every k-th promise creation records its creating
 * stack (the first frames outside Node's internals), for a breakdown by creating function.
 * Sampling costs CPU; the counts do not depend on it.
 *
 * Note: with promise hooks on, V8 takes its slower, hook-aware paths (an `await` allocates a
 * throwaway promise it otherwise elides), so counts are an upper bound of what runs unhooked; they
 * compare builds, measured the same way.
 */
import { writeFileSync } from 'node:fs'
import { promiseHooks } from 'node:v8'

const out = process.env.SBC_PROMISE_COUNT_OUT
const sampleEvery = Number(process.env.SBC_PROMISE_SAMPLE_EVERY ?? 0)

let created = 0
let reactions = 0
const sites = new Map<string, number>()
const holder: { stack?: string } = {}

/**
 * The frames that are not Node internals or this file, as "fn (file:line) < caller < …", up to
 * the third one with a source location (builtins such as `Promise.then` are kept but not counted).
 */
function site(stack: string): string {
  const frames: string[] = []
  let located = 0
  for (const line of stack.split('\n')) {
    const t = line.trim()
    if (!t.startsWith('at ') || t.includes('node:internal') || t.includes('promise-count-hook')) continue
    frames.push(t.slice(3).replace(/file:\/\/\/[^ )]*\/(?=(lib|signalling-pod|cli|node_modules)\/)/, ''))
    if (!t.endsWith('(<anonymous>)') && ++located === 3) break
  }
  return frames.length === 0 ? '(no JS frame)' : frames.join(' < ')
}

function init(): void {
  created++
  if (sampleEvery > 0 && created % sampleEvery === 0) {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 12
    Error.captureStackTrace(holder, init)
    Error.stackTraceLimit = limit
    const key = site(holder.stack ?? '')
    sites.set(key, (sites.get(key) ?? 0) + 1)
  }
}

if (out) {
  promiseHooks.createHook({
    init,
    before() {
      reactions++
    },
  })
  let n = 0
  process.on('SIGUSR2', () => {
    n++
    const cpu = process.cpuUsage()
    writeFileSync(
      `${out}.${n}`,
      JSON.stringify({
        created,
        reactions,
        cpuMicros: cpu.user + cpu.system,
        sites: Object.fromEntries(sites),
      }),
    )
  })
}
