/**
 * Signalling benchmark (issue 4): SIPp drives calls INVITE/100/180/200/ACK/BYE/200 (no media)
 * through a SIP server pinned to core 0 while SIPp runs on core 1, and reports CPU time per
 * completed call at a fixed rate and near saturation, the highest rate with < 0.1 % failed calls,
 * and the p99 of INVITE→100 and INVITE→180. Kamailio (tm + dialog + record_route + topoh,
 * 4 workers, f_malloc, 1 GiB shared memory) runs in the same harness as the anchor.
 *
 *   node bench/signalling-calls.bench.ts [--targets kamailio,kube-sbc] [--rate 200] [--calls 3000] [--syscalls]
 *
 * A kube-sbc target is `kube-sbc[@DIR][#FLAGS]`: DIR another checkout (before/after side by side),
 * FLAGS Node/V8 flags for its process after the product's own (bin/kube-sbc sets them; the later value
 * wins), e.g. `kube-sbc#--max-semi-space-size=64` for V8's default young generation (spaces as `+`).
 *
 * `--syscalls` also counts, with `perf stat`, the system calls and context switches per call of the
 * server (and of kube-sbc's Redis) during the fixed-rate load. `--heap` also reports the bytes each
 * kube-sbc target allocates on its JS heap per call over the fixed-rate load, what drives its
 * young-generation GC (`bench/harness/heap-allocation-probe.ts`, preloaded into the process).
 *
 * `--latency` adds a pass at the fixed rate that measures each server's added INVITE→100 and
 * INVITE→180 latency from a packet capture (µs, kernel timestamps) instead of SIPp's whole-ms clock.
 *
 * `node-forward[#parse|#redis]` is the floor of a Node.js server in the same harness (the calls'
 * datagrams forwarded by Node's dgram; see bench/signalling/node-forward.ts).
 *
 * Every load is bounded by a call count and a SIPp timeout; traffic stays on 127.0.0.1.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '../test/harness/free-port.ts'
import { startRedis } from '../test/harness/redis.ts'
import { udpDatagramsOf } from '../test/harness/udp-pcap.ts'
import { heapAllocationFile } from './harness/heap-allocation-probe.ts'
import { startKubeSbc } from './harness/kube-sbc.ts'
import { groupCpuSeconds, groupPids, groupRssBytes, pidCpuSeconds } from './harness/process-cpu.ts'
import { startGroup } from './harness/process-group.ts'
import { signalAndRead } from './harness/signal-and-read.ts'
import { addedLatency, startCapture } from './harness/sip-latency-capture.ts'
import { percentile, runSippLoad } from './harness/sipp-load.ts'
import { startSyscallCount } from './harness/syscall-count.ts'
import { udpPortBound, waitFor } from './harness/wait-for.ts'

const here = dirname(fileURLToPath(import.meta.url))
const scenario = join(here, 'signalling', 'uac-invite-bye.xml')

interface Running {
  /** The server's process group; undefined for `direct`, which has no server. */
  pgid: number | undefined
  /** Where SIPp's UAC sends (the server's port unless set: `direct` sends to the UAS itself). */
  sendTo?: number
  /** The process that counts its heap allocation between two SIGUSR2 (`--heap`), if any. */
  heapProbePid?: number
  /** A state server outside the group whose CPU belongs to the target too (kube-sbc's Redis). */
  redisPid?: number
  stop(): Promise<void>
}
interface Target {
  name: string
  start(port: number, uasPort: number): Promise<Running>
}

/** Core 0 for the server under test, core 1 for SIPp; a profiled SBC gets a minute to write its profile. */
const pinned = (cpus: string) => ({ cpus, killAfterMs: profileDir ? 60_000 : 5000 })

const kamailio: Target = {
  name: 'kamailio',
  async start(port, uasPort) {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-bench-kamailio-'))
    const cfg = readFileSync(join(here, 'signalling', 'kamailio.cfg.tpl'), 'utf8')
      .replaceAll('@PORT@', String(port))
      .replaceAll('@UAS_PORT@', String(uasPort))
      .replaceAll('@CHILDREN@', '4')
    writeFileSync(join(dir, 'kamailio.cfg'), cfg)
    const argv = [
      'kamailio',
      '-f',
      join(dir, 'kamailio.cfg'),
      '-DD',
      '-E',
      '-m',
      '1024',
      '-x',
      'fm',
      '-Y',
      dir,
    ]
    const run = startGroup(argv, { ...pinned('0'), cwd: dir })
    try {
      await waitFor(() => udpPortBound(port), 'kamailio', 10_000, run.output)
    } catch (err) {
      // A server that did not come up is still stopped: nothing outlives the run.
      await run.stop()
      throw err
    }
    return {
      pgid: run.pgid,
      async stop() {
        await run.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
}

/**
 * `kube-sbc run --redis` (one process, dialog state in a real redis-server) pinned to core 0. The
 * caller side listens on `port`, the callee side on a second port and routes to the SIPp UAS. Redis
 * runs unpinned, outside the SBC's process group; its CPU is measured by PID and reported both on
 * its own and added to the SBC's (the state store is part of the cost of a call).
 */
const kubeSbc: Target = kubeSbcFrom(join(here, '..'))

/**
 * `kube-sbc@DIR` runs the kube-sbc of another checkout (e.g. a `git worktree` of the commit before an
 * optimisation) in the same harness, so before and after are measured side by side under one load.
 */
function kubeSbcFrom(root: string, name = 'kube-sbc', flags?: string): Target {
  return {
    name,
    async start(port, uasPort) {
      const redis = await startRedis()
      // The probe is this checkout's whichever checkout runs: the count is the harness's method.
      const probe = heapProbe ? `--import=${join(here, 'harness', 'heap-allocation-probe.ts')}` : ''
      const nodeOptions = [flags ?? '', probe].join(' ').trim()
      try {
        const run = await startKubeSbc({
          root,
          redisUrl: redis.url,
          pbxPort: port,
          uasPort,
          cpus: '0',
          ...(profileDir ? { profileDir } : {}),
          ...(nodeOptions ? { nodeOptions } : {}),
        })
        return {
          pgid: run.pgid,
          // bin/kube-sbc execs node: the group leader is the SBC's Node process.
          ...(heapProbe ? { heapProbePid: run.pgid } : {}),
          redisPid: redis.pid(),
          async stop() {
            await run.stop()
            await redis.close()
          },
        }
      } catch (err) {
        await redis.close()
        throw err
      }
    },
  }
}

/**
 * `node-forward[#parse|#redis]`: the floor of a Node.js server in this harness (bench/signalling/
 * node-forward.ts): the calls' datagrams forwarded by Node's dgram, as they are, parsed and
 * re-serialized, or that plus one Redis round trip per INVITE and per BYE. Same core, same V8
 * young-generation cap as bin/kube-sbc. Not a SIP server: a reference for what the I/O costs.
 */
function nodeForwardTarget(spec: string): Target {
  const mode = spec.includes('#') ? spec.slice(spec.indexOf('#') + 1) : 'bytes'
  if (!['bytes', 'parse', 'redis'].includes(mode)) throw new Error(`unknown node-forward mode ${mode}`)
  return {
    name: spec,
    async start(port, uasPort) {
      const redis = mode === 'redis' ? await startRedis() : undefined
      const script = join(here, 'signalling', 'node-forward.ts')
      const argv = [process.execPath, '--max-semi-space-size=4', script, String(port), String(uasPort), mode]
      const run = startGroup(redis ? [...argv, redis.url] : argv, pinned('0'))
      try {
        await waitFor(() => udpPortBound(port), spec, 10_000, run.output)
      } catch (err) {
        await run.stop()
        await redis?.close()
        throw err
      }
      return {
        pgid: run.pgid,
        ...(redis ? { redisPid: redis.pid() } : {}),
        async stop() {
          await run.stop()
          await redis?.close()
        },
      }
    },
  }
}

/**
 * `direct`: SIPp's UAC talks to the UAS with no server between them, so its p99 INVITE→180 is what
 * the harness itself takes (SIPp's timers and scheduling on a loaded core); a server's *added*
 * latency is its p99 minus this one (`addedP99Ms` in the output), as the media benchmark subtracts
 * its direct path. The UAS sends no 100, so INVITE→100 is set against the same INVITE→180 baseline.
 */
const direct: Target = {
  name: 'direct',
  async start(_port, uasPort) {
    return { pgid: undefined, sendTo: uasPort, async stop() {} }
  },
}

const targets: Record<string, Target> = { kamailio, 'kube-sbc': kubeSbc, direct }

/** `kube-sbc@DIR`, `kube-sbc#FLAGS` or `kube-sbc@DIR#FLAGS` (see the file comment). */
function kubeSbcTarget(spec: string): Target {
  const hash = spec.indexOf('#')
  const flags = hash < 0 ? undefined : spec.slice(hash + 1).replaceAll('+', ' ')
  const head = hash < 0 ? spec : spec.slice(0, hash)
  const root = head.startsWith('kube-sbc@') ? head.slice(9) : join(here, '..')
  return kubeSbcFrom(root, spec, flags)
}

interface Measurement {
  rate: number
  successful: number
  failed: number
  achievedRate: number
  cpuSeconds: number
  /** CPU of the target's Redis (0 for Kamailio, whose dialog state is in its shared memory). */
  redisCpuSeconds: number
  wallSeconds: number
  errors: string
  sippKilled: boolean
  rtd1p99: number
  rtd2p99: number
  rtd2p50: number
}

async function measure(
  running: Running,
  port: number,
  rate: number,
  calls: number,
  localPort?: number,
): Promise<Measurement> {
  const pgid = running.pgid
  const cpu0 = pgid === undefined ? 0 : groupCpuSeconds(pgid)
  const redis0 = running.redisPid === undefined ? 0 : pidCpuSeconds(running.redisPid)
  const r = await runSippLoad({
    scenario,
    target: `127.0.0.1:${running.sendTo ?? port}`,
    localPort: localPort ?? (await freePort()),
    rate,
    calls,
    callDurationMs: 1000,
    cpu: 1,
    timeoutSeconds: Math.ceil(calls / rate) + 15,
  })
  // Let the last BYE transactions finish before reading the counters.
  await new Promise((res) => setTimeout(res, 500))
  const cpuSeconds = pgid === undefined ? 0 : groupCpuSeconds(pgid) - cpu0
  const redisCpuSeconds = running.redisPid === undefined ? 0 : pidCpuSeconds(running.redisPid) - redis0
  return {
    rate,
    successful: r.successful,
    failed: r.failed,
    achievedRate: r.achievedRate,
    cpuSeconds,
    redisCpuSeconds,
    wallSeconds: r.wallSeconds,
    errors: r.errors,
    sippKilled: r.killed,
    rtd1p99: percentile(r.rtd['1'] ?? [], 99),
    rtd2p99: percentile(r.rtd['2'] ?? [], 99),
    rtd2p50: percentile(r.rtd['2'] ?? [], 50),
  }
}

/**
 * `--latency`: one more pass at the fixed rate with dumpcap capturing the caller's and the callee's
 * ports (bench/harness/sip-latency-capture.ts). A pass of its own because the capture tap costs the
 * sending process CPU, which must not count in the fixed-rate figure.
 */
async function latencyPass(running: Running, port: number, uasPort: number, rate: number, calls: number) {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-bench-capture-'))
  try {
    const localPort = await freePort()
    const file = join(dir, 'calls.pcap')
    const capture = await startCapture([localPort, uasPort], file)
    let m: Measurement
    try {
      m = await measure(running, port, rate, calls, localPort)
    } finally {
      await capture.stop()
    }
    const added = addedLatency(udpDatagramsOf(file), localPort, uasPort)
    // SIPp's own view of the same pass, for comparison (whole ms, coarse clock).
    return { ...added, failed: m.failed, sippP99Ms: { inviteTo100: m.rtd1p99, inviteTo180: m.rtd2p99 } }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

let profileDir: string | undefined
let heapProbe = false

/** Starts (first call) or ends (second call) the probe's count; the second resolves to the count. */
async function heapMark(
  pid: number,
  end: boolean,
): Promise<{ allocatedBytes: number; gcs: number } | undefined> {
  const file = heapAllocationFile(pid)
  if (!end) {
    rmSync(file, { force: true })
    process.kill(pid, 'SIGUSR2')
    return undefined
  }
  const count = await signalAndRead<{ allocatedBytes: number; gcs: number }>(
    pid,
    file,
    'heap allocation count',
    10_000,
  )
  rmSync(file, { force: true })
  return count
}

const round = (x: number) => Math.round(x * 1000) / 1000

async function main() {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string', default: 'kamailio' },
      rate: { type: 'string', default: '200' },
      calls: { type: 'string', default: '3000' },
      ramp: { type: 'string', default: '1000,1500,2000,2500,3000,3500' },
      'ramp-seconds': { type: 'string', default: '5' },
      warmup: { type: 'string', default: '500' },
      profile: { type: 'string' },
      syscalls: { type: 'boolean', default: false },
      heap: { type: 'boolean', default: false },
      latency: { type: 'boolean', default: false },
    },
  })
  profileDir = values.profile
  heapProbe = values.heap
  const results: Record<string, unknown> = {}
  for (const name of values.targets.split(',')) {
    const target =
      name.startsWith('kube-sbc@') || name.startsWith('kube-sbc#')
        ? kubeSbcTarget(name)
        : name.startsWith('node-forward')
          ? nodeForwardTarget(name)
          : targets[name]
    if (!target) throw new Error(`unknown target ${name}; known: ${Object.keys(targets).join(', ')}`)
    const port = await freePort()
    const uasPort = await freePort()
    const uas = startGroup(
      ['sipp', '-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin'],
      pinned('1'),
    )
    let running: Running | undefined
    try {
      await waitFor(() => udpPortBound(uasPort), 'the SIPp UAS')
      running = await target.start(port, uasPort)
      // Warm-up calls, not measured: V8 compiles kube-sbc's hot path during its first calls, which
      // would otherwise be charged to the fixed-rate figure (Kamailio has nothing to warm up).
      const warmup = Number(values.warmup)
      if (warmup > 0) await measure(running, port, Number(values.rate), warmup)
      const pgid = running.pgid
      const rssBefore = pgid === undefined ? 0 : groupRssBytes(pgid)
      const counts =
        values.syscalls && pgid !== undefined
          ? {
              server: startSyscallCount(groupPids(pgid)),
              redis: running.redisPid === undefined ? undefined : startSyscallCount([running.redisPid]),
            }
          : undefined
      const probe = running.heapProbePid
      if (probe !== undefined) await heapMark(probe, false)
      const fixed = await measure(running, port, Number(values.rate), Number(values.calls))
      const heap = probe === undefined ? undefined : await heapMark(probe, true)
      const perCallCounts = counts && {
        server: await counts.server.stop(),
        ...(counts.redis ? { redis: await counts.redis.stop() } : {}),
      }
      const rssAfter = pgid === undefined ? 0 : groupRssBytes(pgid)
      const latency = values.latency
        ? await latencyPass(running, port, uasPort, Number(values.rate), Number(values.calls))
        : undefined
      const ramp: Measurement[] = []
      for (const rate of values.ramp.split(',').filter(Boolean).map(Number)) {
        const m = await measure(running, port, rate, rate * Number(values['ramp-seconds']))
        ramp.push(m)
        const failRatio = m.failed / Math.max(1, m.successful + m.failed)
        if (failRatio >= 0.001 || m.achievedRate < 0.9 * rate) break
      }
      const passing = ramp.filter(
        (m) => m.failed / Math.max(1, m.successful + m.failed) < 0.001 && m.achievedRate >= 0.9 * m.rate,
      )
      const best = passing[passing.length - 1]
      const perCall = (m: Measurement) => {
        const n = Math.max(1, m.successful)
        return {
          cpuMsPerCall: round((m.cpuSeconds * 1000) / n),
          redisCpuMsPerCall: round((m.redisCpuSeconds * 1000) / n),
          totalCpuMsPerCall: round(((m.cpuSeconds + m.redisCpuSeconds) * 1000) / n),
        }
      }
      results[name] = {
        fixedRate: {
          rate: fixed.rate,
          calls: fixed.successful,
          failed: fixed.failed,
          ...(fixed.sippKilled ? { sippKilled: true } : {}),
          ...perCall(fixed),
          p99InviteTo100Ms: fixed.rtd1p99,
          p99InviteTo180Ms: fixed.rtd2p99,
          p50InviteTo180Ms: fixed.rtd2p50,
          rssBytes: { before: rssBefore, after: rssAfter },
          ...(latency ? { capturedAddedLatencyUs: latency } : {}),
          ...(heap
            ? {
                heapAllocatedBytesPerCall: Math.round(heap.allocatedBytes / Math.max(1, fixed.successful)),
                gcsDuringLoad: heap.gcs,
              }
            : {}),
          ...(perCallCounts
            ? {
                perCall: Object.fromEntries(
                  Object.entries(perCallCounts).map(([who, c]) => [
                    who,
                    {
                      syscalls: round(c.syscalls / Math.max(1, fixed.successful)),
                      contextSwitches: round(c.contextSwitches / Math.max(1, fixed.successful)),
                    },
                  ]),
                ),
              }
            : {}),
          ...(fixed.failed > 0 && fixed.errors ? { sippErrors: fixed.errors.slice(0, 1500) } : {}),
        },
        saturation: best
          ? {
              maxRateWithoutFailures: best.rate,
              achievedRate: Math.round(best.achievedRate),
              ...perCall(best),
              coresUsed: round((best.cpuSeconds + best.redisCpuSeconds) / best.wallSeconds),
              ratePerCoreUsed: Math.round(best.successful / (best.cpuSeconds + best.redisCpuSeconds)),
            }
          : null,
        ramp: ramp.map((m) => ({
          rate: m.rate,
          ok: m.successful,
          failed: m.failed,
          ...(m.sippKilled ? { sippKilled: true } : {}),
          achieved: Math.round(m.achievedRate),
          ...perCall(m),
          p99InviteTo180Ms: m.rtd2p99,
          ...(m.failed > 0 && m.errors ? { sippErrors: m.errors.slice(0, 1500) } : {}),
        })),
      }
    } finally {
      await running?.stop()
      await uas.stop()
    }
  }
  sippAddedLatency(results)
  console.log(JSON.stringify(results, null, 2))
}

/** With `direct` in the run: each server's p99s minus the harness's own (see `direct`). */
function sippAddedLatency(results: Record<string, unknown>): void {
  type Fixed = { fixedRate: { p99InviteTo100Ms: number | null; p99InviteTo180Ms: number | null } }
  const base = (results.direct as Fixed | undefined)?.fixedRate.p99InviteTo180Ms
  if (base === undefined || base === null) return
  for (const [name, r] of Object.entries(results)) {
    if (name === 'direct') continue
    const f = (r as Fixed).fixedRate
    const minus = (v: number | null) => (v === null ? null : round(v - base))
    Object.assign(r as object, {
      addedP99Ms: {
        inviteTo100: minus(f.p99InviteTo100Ms),
        inviteTo180: minus(f.p99InviteTo180Ms),
        directP99Ms: base,
      },
    })
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
