/**
 * Promises per call: how many promises a `kube-sbc run --redis --no-media` process creates, and how
 * many promise reaction jobs (microtasks) it runs, per call of INVITE/100/180/200/ACK/BYE/200 —
 * the same calls and configuration as bench/signalling-calls.bench.ts, at a fixed rate after a
 * warm-up. With `--sample K` it also lists where the promises come from (every K-th creation's
 * stack, grouped by creating function and its caller), scaled to promises per call.
 *
 *   node bench/signalling-promises.bench.ts [--roots DIR,DIR] [--rate 200] [--calls 2000] [--sample 50]
 *
 * `--roots` names checkouts to measure one after the other (e.g. a `git worktree` of the commit
 * before a change, then this one); default this checkout. The counting module
 * (harness/promise-count-hook.ts) is this checkout's, preloaded into each.
 *
 * Every load is bounded by a call count and a SIPp timeout; traffic stays on 127.0.0.1; only the
 * processes started here are stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '../test/harness/free-port.ts'
import { startRedis } from '../test/harness/redis.ts'
import { startKubeSbc } from './harness/kube-sbc.ts'
import { startGroup } from './harness/process-group.ts'
import { signalAndRead } from './harness/signal-and-read.ts'
import { runSippLoad } from './harness/sipp-load.ts'
import { udpPortBound, waitFor } from './harness/wait-for.ts'

const here = dirname(fileURLToPath(import.meta.url))
const scenario = join(here, 'signalling', 'uac-invite-bye.xml')
const hook = join(here, 'harness', 'promise-count-hook.ts')

interface Snapshot {
  created: number
  reactions: number
  cpuMicros: number
  sites: Record<string, number>
}

/** Asks the process for a snapshot and reads it once written. */
const snapshot = (pid: number, file: string) =>
  signalAndRead<Snapshot>(pid, file, 'promise-count snapshot', 2000)

async function measureRoot(root: string, rate: number, calls: number, warmup: number, sample: number) {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-bench-promises-'))
  const out = join(dir, 'count')
  process.env.SBC_PROMISE_COUNT_OUT = out
  process.env.SBC_PROMISE_SAMPLE_EVERY = String(sample)
  const uasPort = await freePort()
  const port = await freePort()
  const uas = startGroup(['sipp', '-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin'], {
    cpus: '1',
  })
  const redis = await startRedis()
  let sbc: Awaited<ReturnType<typeof startKubeSbc>> | undefined
  try {
    await waitFor(() => udpPortBound(uasPort), 'the SIPp UAS')
    sbc = await startKubeSbc({
      root,
      redisUrl: redis.url,
      pbxPort: port,
      uasPort,
      cpus: '0',
      nodeOptions: `--import=${hook}`,
    })
    const load = async (n: number) =>
      runSippLoad({
        scenario,
        target: `127.0.0.1:${port}`,
        localPort: await freePort(),
        rate,
        calls: n,
        callDurationMs: 1000,
        cpu: 1,
        timeoutSeconds: Math.ceil(n / rate) + 15,
      })
    if (warmup > 0) await load(warmup)
    // bin/kube-sbc execs node, so the group leader is the process that counts.
    const before = await snapshot(sbc.pgid, `${out}.1`)
    const r = await load(calls)
    // Let the last BYE transactions finish before reading the counters.
    await new Promise((res) => setTimeout(res, 500))
    const after = await snapshot(sbc.pgid, `${out}.2`)
    const n = Math.max(1, r.successful)
    const perCall = (x: number) => Math.round((x / n) * 10) / 10
    const sampledTotal = Object.values(after.sites).reduce((a, b) => a + b, 0)
    const sampledBefore = Object.values(before.sites).reduce((a, b) => a + b, 0)
    const sampled = sampledTotal - sampledBefore
    const bySite = Object.entries(after.sites)
      .map(([k, v]) => [k, v - (before.sites[k] ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 40)
      .map(([k, v]) => ({ perCall: perCall(((after.created - before.created) * v) / sampled), site: k }))
    return {
      root,
      calls: r.successful,
      failed: r.failed,
      promisesPerCall: perCall(after.created - before.created),
      reactionsPerCall: perCall(after.reactions - before.reactions),
      cpuMsPerCall: Math.round(((after.cpuMicros - before.cpuMicros) / n / 1000) * 1000) / 1000,
      ...(r.failed > 0 && r.errors ? { sippErrors: r.errors.slice(0, 1500) } : {}),
      ...(sample > 0 ? { samples: sampled, bySite } : {}),
    }
  } finally {
    await sbc?.stop()
    await redis.close()
    await uas.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      roots: { type: 'string', default: join(here, '..') },
      rate: { type: 'string', default: '200' },
      calls: { type: 'string', default: '2000' },
      warmup: { type: 'string', default: '500' },
      sample: { type: 'string', default: '0' },
    },
  })
  const results = []
  for (const root of values.roots.split(',')) {
    results.push(
      await measureRoot(
        root,
        Number(values.rate),
        Number(values.calls),
        Number(values.warmup),
        Number(values.sample),
      ),
    )
  }
  console.log(JSON.stringify(results, null, 2))
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
