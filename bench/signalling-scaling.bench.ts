/**
 * Signalling scaling benchmark (issue 4: "how the rate grows with two and three signalling
 * processes on one Redis"). For each N in --processes: N `kube-sbc run --redis --no-media` processes
 * on one real redis-server, each on its own SIP port, one SIPp UAC per process at R/N calls/s (so
 * the total is R) and one SIPp UAS behind them all (bench/signalling/uas-answer-by-via.xml); the
 * call is bench/signalling-calls.bench.ts's INVITE/100/180/200/ACK/1 s/BYE/200. Per N: unmeasured
 * warm-up calls (--warmup per process), a fixed total rate (CPU per call of all SBC processes and
 * of Redis, Redis commands per call), for N ≥ 2 the same fixed rate with every BYE sent to the
 * next process (`cross`: the in-dialog request served by a process that did not handle the INVITE,
 * from the state in Redis), then a ramp of total rates that stops at the first step with ≥ 0.1 %
 * failed calls or < 90 % of the asked rate. Scaling is each N's figure over N = 1's from the same
 * run.
 *
 * Pinning: SIPp (UACs and UAS) on --sipp-cpus (default core 1); the SBC processes on --sbc-cpus
 * (default unpinned, so N processes may use every core); Redis unpinned. The whole machine's busy
 * and stolen CPU is reported per step, so a result taken while other jobs ran says so.
 *
 *   node bench/signalling-scaling.bench.ts [--processes 1,2,3] [--rate 200] [--calls 2000]
 *     [--ramp 300,450,600,750,900,1050,1200] [--ramp-seconds 5] [--warmup 300] [--no-cross]
 *     [--sipp-cpus 1] [--sbc-cpus 0]
 *
 * Every load is bounded by a call count and a SIPp timeout; traffic stays on 127.0.0.1; only
 * processes this script started are stopped, by process group.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { freePort } from '../test/harness/free-port.ts'
import { startRedis, type TestRedis } from '../test/harness/redis.ts'
import { startKubeSbc } from './harness/kube-sbc.ts'
import {
  groupCpuSeconds,
  machineCpuSeconds,
  pidCpuSeconds,
  reapedChildrenCpuSeconds,
} from './harness/process-cpu.ts'
import { type ProcessGroup, startGroup } from './harness/process-group.ts'
import { percentile, runSippLoad } from './harness/sipp-load.ts'
import { udpPortBound, waitFor } from './harness/wait-for.ts'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const scenarioFile = join(here, 'signalling', 'uac-invite-bye.xml')
/** SIPp's built-in `uas`, except that the 200 to a BYE goes to the process that relayed that BYE. */
const uasScenarioFile = join(here, 'signalling', 'uas-answer-by-via.xml')

/** What Redis reports having done so far (INFO stats). */
interface RedisWork {
  commands: number
  bytesIn: number
  bytesOut: number
}

async function redisWork(client: Redis): Promise<RedisWork> {
  const info = await client.info('stats')
  const field = (name: string) => {
    const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info)
    if (!m) throw new Error(`INFO stats has no ${name}`)
    return Number(m[1])
  }
  return {
    commands: field('total_commands_processed'),
    bytesIn: field('total_net_input_bytes'),
    bytesOut: field('total_net_output_bytes'),
  }
}

/** N SBC processes on one Redis, with the SIPp UAS they all route to. */
interface Cluster {
  redis: TestRedis
  client: Redis
  sbcs: { pgid: number; port: number; stop(): Promise<void> }[]
  uas: ProcessGroup
}

/**
 * The benchmark call with the BYE sent to `port` (another SBC process) instead of the process that
 * handled the INVITE and sent the 2xx; the ACK still goes to the latter (an ACK through another
 * process leaves the first one retransmitting its 2xx for 64·T1, docs/b2bua.md "Multi-process").
 */
function crossScenario(dir: string, port: number): string {
  const text = readFileSync(scenarioFile, 'latin1')
  const marker = '  <pause/>\n'
  if (!text.includes(marker)) throw new Error(`${scenarioFile}: no <pause/> before the BYE to redirect`)
  const file = join(dir, `uac-invite-bye-to-${port}.xml`)
  writeFileSync(
    file,
    text.replace(
      marker,
      `${marker}  <nop><action><setdest host="127.0.0.1" port="${port}" protocol="udp" /></action></nop>\n`,
    ),
    'latin1',
  )
  return file
}

interface Measurement {
  rate: number
  successful: number
  failed: number
  achievedRate: number
  wallSeconds: number
  sbcCpuSeconds: number[]
  redisCpuSeconds: number
  sippCpuSeconds: number
  machineBusySeconds: number
  machineStealSeconds: number
  redis: RedisWork
  rtd2: number[]
  errors: string
  sippKilled: boolean
}

/** One load of `calls` calls at `rate` calls/s in total, split evenly over the N processes. */
async function measure(
  c: Cluster,
  rate: number,
  calls: number,
  opts: { cross: boolean; sippCpus?: string; dir: string },
): Promise<Measurement> {
  const n = c.sbcs.length
  const sbc0 = c.sbcs.map((s) => groupCpuSeconds(s.pgid))
  const redis0 = pidCpuSeconds(c.redis.pid())
  const uas0 = groupCpuSeconds(c.uas.pgid)
  const children0 = reapedChildrenCpuSeconds()
  const machine0 = machineCpuSeconds()
  const work0 = await redisWork(c.client)
  const t0 = process.hrtime.bigint()
  const perUac = Math.ceil(calls / n)
  const results = await Promise.all(
    c.sbcs.map(async (s, i) =>
      runSippLoad({
        scenario: opts.cross ? crossScenario(opts.dir, c.sbcs[(i + 1) % n]!.port) : scenarioFile,
        target: `127.0.0.1:${s.port}`,
        localPort: await freePort(),
        rate: rate / n,
        calls: perUac,
        callDurationMs: 1000,
        ...(opts.sippCpus === undefined ? {} : { cpu: opts.sippCpus }),
        timeoutSeconds: Math.ceil(perUac / (rate / n)) + 15,
      }),
    ),
  )
  // Let the last BYE transactions finish before reading the counters.
  await new Promise((res) => setTimeout(res, 500))
  const work1 = await redisWork(c.client)
  const machine1 = machineCpuSeconds()
  const sbc1 = c.sbcs.map((s) => groupCpuSeconds(s.pgid))
  const redis1 = pidCpuSeconds(c.redis.pid())
  const sipp1 = reapedChildrenCpuSeconds() - children0 + (groupCpuSeconds(c.uas.pgid) - uas0)
  return {
    rate,
    successful: results.reduce((a, r) => a + r.successful, 0),
    failed: results.reduce((a, r) => a + r.failed, 0),
    achievedRate: results.reduce((a, r) => a + r.achievedRate, 0),
    // The window every CPU counter above was read over: the loads and the settling time after them.
    wallSeconds: Number(process.hrtime.bigint() - t0) / 1e9,
    sbcCpuSeconds: sbc1.map((x, i) => x - sbc0[i]!),
    redisCpuSeconds: redis1 - redis0,
    sippCpuSeconds: sipp1,
    machineBusySeconds: machine1.busy - machine0.busy,
    machineStealSeconds: machine1.steal - machine0.steal,
    redis: {
      commands: work1.commands - work0.commands,
      bytesIn: work1.bytesIn - work0.bytesIn,
      bytesOut: work1.bytesOut - work0.bytesOut,
    },
    rtd2: results.flatMap((r) => r.rtd['2'] ?? []),
    errors: results.map((r) => r.errors).join(''),
    sippKilled: results.some((r) => r.killed),
  }
}

/**
 * Cores the N SBC processes and Redis use with no calls (timers, health checks, pub/sub), after one
 * second of rest: the part of a process's cost that does not shrink with its share of the load.
 */
async function idleCores(c: Cluster, seconds: number) {
  await new Promise((res) => setTimeout(res, 1000))
  const sbc0 = c.sbcs.reduce((a, s) => a + groupCpuSeconds(s.pgid), 0)
  const redis0 = pidCpuSeconds(c.redis.pid())
  await new Promise((res) => setTimeout(res, seconds * 1000))
  return {
    sbc: round((c.sbcs.reduce((a, s) => a + groupCpuSeconds(s.pgid), 0) - sbc0) / seconds),
    redis: round((pidCpuSeconds(c.redis.pid()) - redis0) / seconds),
  }
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits
const failRatio = (m: Measurement) => m.failed / Math.max(1, m.successful + m.failed)
const passed = (m: Measurement) => failRatio(m) < 0.001 && m.achievedRate >= 0.9 * m.rate

/** Per-call costs and machine figures of one load, as printed. */
function report(m: Measurement) {
  // Per-call figures need calls: NaN (null in the JSON) when none succeeded.
  const calls = m.successful > 0 ? m.successful : Number.NaN
  const sbc = m.sbcCpuSeconds.reduce((a, b) => a + b, 0)
  const total = sbc + m.redisCpuSeconds
  return {
    rate: m.rate,
    ok: m.successful,
    failed: m.failed,
    ...(m.sippKilled ? { sippKilled: true } : {}),
    achieved: Math.round(m.achievedRate),
    sbcCpuMsPerCall: round((sbc * 1000) / calls),
    redisCpuMsPerCall: round((m.redisCpuSeconds * 1000) / calls),
    totalCpuMsPerCall: round((total * 1000) / calls),
    redisShareOfTotal: round(m.redisCpuSeconds / Math.max(1e-9, total)),
    redisCommandsPerCall: round(m.redis.commands / calls, 1),
    redisBytesPerCall: { in: Math.round(m.redis.bytesIn / calls), out: Math.round(m.redis.bytesOut / calls) },
    // How the SBC CPU was spread over the processes (equal shares: the load was balanced).
    sbcCpuSharePerProcess: m.sbcCpuSeconds.map((s) => round(s / Math.max(1e-9, sbc), 2)),
    coresUsed: {
      sbcAndRedis: round(total / m.wallSeconds, 2),
      sipp: round(m.sippCpuSeconds / m.wallSeconds, 2),
    },
    // Everything on the machine, other people's jobs included; 2.0 is both cores busy.
    machineBusyCores: round(m.machineBusySeconds / m.wallSeconds, 2),
    machineStealCores: round(m.machineStealSeconds / m.wallSeconds, 2),
    p50InviteTo180Ms: percentile(m.rtd2, 50),
    p99InviteTo180Ms: percentile(m.rtd2, 99),
    ...(m.failed > 0 && m.errors ? { sippErrors: m.errors.slice(0, 1500) } : {}),
  }
}

async function startCluster(n: number, sbcCpus: string | undefined, sippCpus: string | undefined) {
  const redis = await startRedis()
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  const sbcs: Cluster['sbcs'] = []
  let uas: ProcessGroup | undefined
  try {
    const uasPort = await freePort()
    uas = startGroup(['sipp', '-sf', uasScenarioFile, '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin'], {
      ...(sippCpus === undefined ? {} : { cpus: sippCpus }),
    })
    const output = uas.output
    await waitFor(() => udpPortBound(uasPort), 'the SIPp UAS', 10_000, output)
    const ports = new Set<number>()
    while (ports.size < n) ports.add(await freePort())
    // Started together (each takes seconds to come up); any that did start are stopped on failure.
    const started = await Promise.allSettled(
      [...ports].map(async (port) => {
        const run = await startKubeSbc({
          root,
          redisUrl: redis.url,
          pbxPort: port,
          uasPort,
          ...(sbcCpus === undefined ? {} : { cpus: sbcCpus }),
        })
        sbcs.push({ pgid: run.pgid, port, stop: run.stop })
      }),
    )
    const failed = started.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    return { redis, client, sbcs, uas } satisfies Cluster
  } catch (err) {
    await stopCluster({ redis, client, sbcs, uas })
    throw err
  }
}

async function stopCluster(c: Omit<Cluster, 'uas'> & { uas: ProcessGroup | undefined }): Promise<void> {
  for (const s of c.sbcs) await s.stop()
  await c.uas?.stop()
  c.client.disconnect()
  await c.redis.close()
}

async function main() {
  const { values } = parseArgs({
    options: {
      processes: { type: 'string', default: '1,2,3' },
      rate: { type: 'string', default: '200' },
      calls: { type: 'string', default: '2000' },
      ramp: { type: 'string', default: '300,450,600,750,900,1050,1200' },
      'ramp-seconds': { type: 'string', default: '5' },
      warmup: { type: 'string', default: '300' },
      'no-cross': { type: 'boolean', default: false },
      'sipp-cpus': { type: 'string', default: '1' },
      // Unpinned by default: N processes are meant to use more than one core.
      'sbc-cpus': { type: 'string' },
    },
  })
  /** A flag's number; bad input is a clear error before anything starts. */
  const number = (name: string, v: string, o: { integer?: boolean; zero?: boolean } = {}) => {
    const x = Number(v)
    const ok =
      v.trim() !== '' &&
      Number.isFinite(x) &&
      (o.zero ? x >= 0 : x > 0) &&
      (!o.integer || Number.isInteger(x))
    if (!ok)
      throw new Error(
        `--${name}: ${JSON.stringify(v)} is not a ${o.integer ? 'whole ' : ''}number ${o.zero ? '≥' : '>'} 0`,
      )
    return x
  }
  const list = (name: string, v: string, o: { integer?: boolean } = {}) =>
    v.split(',').map((x) => number(name, x, o))
  const counts = list('processes', values.processes, { integer: true })
  const rate = number('rate', values.rate)
  const calls = number('calls', values.calls, { integer: true })
  const ramp = list('ramp', values.ramp)
  const rampSeconds = number('ramp-seconds', values['ramp-seconds'])
  const warmup = number('warmup', values.warmup, { integer: true, zero: true })
  const sippCpus = values['sipp-cpus'] || undefined
  const sbcCpus = values['sbc-cpus'] || undefined
  const dir = mkdtempSync(join(tmpdir(), 'sbc-bench-scaling-'))
  const opts = (cross: boolean) => ({ cross, dir, ...(sippCpus === undefined ? {} : { sippCpus }) })

  const started = new Date().toISOString()
  const loadAtStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  const byN: Record<string, ReturnType<typeof summary>> = {}
  function summary(
    idle: Awaited<ReturnType<typeof idleCores>>,
    fixed: Measurement,
    cross: Measurement | undefined,
    steps: Measurement[],
  ) {
    const best = steps.filter(passed).at(-1)
    return {
      idleCores: idle,
      fixedRate: report(fixed),
      ...(cross ? { fixedRateByeThroughNextProcess: report(cross) } : {}),
      maxRateWithoutFailures: best ? best.rate : null,
      atMaxRate: best ? report(best) : null,
      ramp: steps.map(report),
    }
  }
  try {
    for (const n of counts) {
      const c = await startCluster(n, sbcCpus, sippCpus)
      try {
        // Warm-up calls, not measured: V8 compiles each process's hot path during its first calls,
        // so every process gets as many as the one of N = 1 (a shared total leaves N = 2 and 3 colder).
        if (warmup > 0) await measure(c, rate, warmup * n, opts(false))
        const idle = await idleCores(c, 3)
        const fixed = await measure(c, rate, calls, opts(false))
        const cross = n > 1 && !values['no-cross'] ? await measure(c, rate, calls, opts(true)) : undefined
        const steps: Measurement[] = []
        for (const r of ramp) {
          const m = await measure(c, r, r * rampSeconds, opts(false))
          steps.push(m)
          if (!passed(m)) break
        }
        byN[String(n)] = summary(idle, fixed, cross, steps)
      } finally {
        await stopCluster(c)
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }

  // Each N against N = 1 from the same run: the ratios are what this benchmark is for.
  const one = byN['1']
  const scaling = Object.fromEntries(
    Object.entries(byN).map(([n, s]) => [
      n,
      {
        maxRate: s.maxRateWithoutFailures,
        maxRateVsOne:
          one?.maxRateWithoutFailures && s.maxRateWithoutFailures
            ? round(s.maxRateWithoutFailures / one.maxRateWithoutFailures, 2)
            : null,
        totalCpuMsPerCallAtFixedRate: s.fixedRate.totalCpuMsPerCall,
        totalCpuPerCallVsOne: one
          ? round(s.fixedRate.totalCpuMsPerCall / one.fixedRate.totalCpuMsPerCall, 2)
          : null,
        totalCpuMsPerCallAtMaxRate: s.atMaxRate?.totalCpuMsPerCall ?? null,
        redisCpuMsPerCallAtMaxRate: s.atMaxRate?.redisCpuMsPerCall ?? null,
        redisCpuMsPerCallAtFixedRate: s.fixedRate.redisCpuMsPerCall,
        redisCpuPerCallVsOne: one
          ? round(s.fixedRate.redisCpuMsPerCall / one.fixedRate.redisCpuMsPerCall, 2)
          : null,
        ...(s.fixedRateByeThroughNextProcess
          ? {
              crossTotalCpuMsPerCall: s.fixedRateByeThroughNextProcess.totalCpuMsPerCall,
              crossVsSameProcess: round(
                s.fixedRateByeThroughNextProcess.totalCpuMsPerCall / s.fixedRate.totalCpuMsPerCall,
                2,
              ),
            }
          : {}),
      },
    ]),
  )
  const conditions = {
    started,
    ended: new Date().toISOString(),
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    sippCpus: sippCpus ?? 'unpinned',
    sbcCpus: sbcCpus ?? 'unpinned',
    redisCpus: 'unpinned',
  }
  console.log(JSON.stringify({ conditions, scaling, byProcesses: byN }, null, 2))
  // The same figures as a Markdown table on stderr, for docs/benchmarks/signalling-scaling.md.
  const cell = (x: number | null | undefined) =>
    x === null || x === undefined || Number.isNaN(x) ? '—' : String(x)
  const rows = Object.entries(byN).map(([n, s]) => {
    const r = scaling[n]!
    const at = s.atMaxRate
    return `| ${n} | ${cell(r.maxRate)} | ${cell(r.maxRateVsOne)} | ${cell(at?.totalCpuMsPerCall)} (${cell(at?.redisCpuMsPerCall)}) | ${cell(at?.redisShareOfTotal)} | ${cell(at?.coresUsed.sbcAndRedis)} + ${cell(at?.coresUsed.sipp)} / ${cell(at?.machineBusyCores)} | ${cell(s.fixedRate.totalCpuMsPerCall)} (${cell(s.fixedRate.redisCpuMsPerCall)}), ${s.fixedRate.failed} failed | ${cell(s.fixedRate.redisCommandsPerCall)} | ${cell(s.fixedRateByeThroughNextProcess?.totalCpuMsPerCall)} | ${cell(s.idleCores.sbc)} |`
  })
  console.error(
    [
      `| N | max rate | vs N=1 | CPU ms/call at max (Redis) | Redis share | cores SBC+Redis + SIPp / machine | CPU ms/call at ${rate}/s (Redis), failed | Redis cmds/call | BYE via next: CPU ms/call | idle cores |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n'),
  )
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
