/**
 * kube-sbc media against rtpengine, side by side (issue 5 Benchmark, ADR 0040).
 *
 * Three relay processes run at once on loopback, each with its own port range: `kube-sbc media`
 * (native relay, one worker per core: the product default, `ncores`), `kube-sbc media --workers 0` (the TypeScript dgram relay) and rtpengine
 * (Debian rtpengine-daemon, userspace forwarding, `--table=-1`). All three are driven by the same NG
 * client (lib/media/control/ng-client.ts, identical offer/answer/delete dictionaries) and the same
 * native paced load generator and sink (media-pod/native/src/loadgen.c: 20 ms G.711-sized packets,
 * 50 packets/s per stream, 250 µs ticks; the RTP timestamp carries the send time so the sink measures
 * generator → relay → sink latency). Cases RTP→RTP, RTP→SRTP, SRTP→SRTP (AES_CM_128_HMAC_SHA1_80,
 * re-keyed), each at the given rates, interleaved: for every case each relay's calls are set up, then
 * the relays take turns in slices of one second (order rotated per round), so that they share the
 * machine's state: on this VM the hypervisor steals 0-35 % of the CPU in bursts of seconds, which
 * makes a relay's tail latency depend on when it ran (docs/benchmarks/media.md, Session 9).
 *
 * Per run (a relay's slices of one case in one round): relay CPU per packet = (utime + stime of
 * /proc/<pid>/stat, all threads, summed over its slices) / packets sent; loss; latency p50/p99 of all
 * its packets pooled. Each case also runs the generator straight into the sink ("direct", no
 * relay, same streams and rate, in the rotation): its p50/p99 is what the generator, the sink and
 * the machine's scheduling add by themselves, so relay-added latency = relay pXX − direct pXX. Per relay and round: memory per session = VmRSS delta after N idle
 * sessions offered and answered (not deleted), divided by N.
 *
 * Bounded: each run sends rate × SECONDS packets (≤ 200,000); every process started here is stopped
 * by its PID. Usage:
 *   node bench/media-relay.bench.ts [seconds=5] [rounds=3] [rates=10000,20000] [idle-sessions=1000, 0 = skip] [relays=ncores,rtpengine,ts | native,native4,nslice,nrt,rtprt,nspread,rtpppt]
 * Environment: MEDIA_BENCH_PORT_BASE (default 10000): first port of the relays' ranges (7,000 each);
 * MEDIA_BENCH_PT_MAP=1: every call negotiates telephone-event on different types (a payload type map);
 * MEDIA_BENCH_MODES=RTP→RTP,SRTP→SRTP: only these cases; MEDIA_BENCH_SINK_POLL_US=N: the sink thread
 * sleeps N µs whenever its queue is empty instead of waking for each datagram (latency is the kernel's
 * receive timestamp either way; fewer sink wake-ups competing with the relay for the CPUs);
 * MEDIA_BENCH_SLICES=K: slices per run (default 5, i.e. 1 s each with 5-s runs; 1 = each relay's run
 * in one go, the method before session 9); MEDIA_BENCH_STALLS=N (with MEDIA_BENCH_SLICES=1): every
 * run also prints its stalls, packets at least N µs late grouped by send time.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SbcConfig } from '../lib/config/model.ts'
import { NgClient } from '../lib/media/control/ng-client.ts'
import { formatSdesKeyParams, generateSdesKey } from '../lib/media/srtp/sdes.ts'
import { buildMediaAddon } from '../media-pod/native/build.ts'
import { loadMediaAddon, SrtpEngine } from '../media-pod/native/media-addon.ts'
import { freePort } from '../test/harness/free-port.ts'

// `ncores`: the native relay with one worker per core, what `kube-sbc media` runs by default: the
// summary reports it as kube-sbc's figure.
// `nrt`: ncores with `--worker-priority 10` (SCHED_FIFO workers; the bench runs as root).
// `nspread`: ncores with `--worker-spill-pps 0`: every worker takes calls in turn and nothing moves
// (the default until session 7's load-following placement).
// `ncslice`: ncores with KSBC_RELAY_SLICE_US=100 (an EEVDF time slice of 100 µs for the workers,
// unprivileged: media-pod/native/README.md).
// `rtpppt`: rtpengine with `--poller-per-thread` (one epoll set per thread, as our workers have,
// instead of one shared by all its threads).
// `nslice`: the native relay (1 worker) with KSBC_RELAY_SLICE_US=100 (media-pod/native/README.md).
// `native4`: the native relay with 4 worker threads, as many packet threads as rtpengine runs here
// (4 "poller" threads): under CPU contention the scheduler shares CPU per thread, so the tail latency
// of a 1-thread relay against a 4-thread one compares thread counts, not relays. Not in the default set.
// `rtprt`: rtpengine with `--scheduling=fifo --priority=10`, its own real-time option: the like-for-like
// anchor for `nrt` (ratios in the summary stay against plain `rtpengine`).
const RELAYS = [
  'native',
  'rtpengine',
  'ts',
  'native4',
  'nslice',
  'ncores',
  'nrt',
  'rtprt',
  'nspread',
  'rtpppt',
  'ncslice',
  'nnotick',
] as const
type RelayName = (typeof RELAYS)[number]
const MODES = ['RTP→RTP', 'RTP→SRTP', 'SRTP→SRTP'] as const
type Mode = (typeof MODES)[number]
const SUITE = 'AES_CM_128_HMAC_SHA1_80'

buildMediaAddon()
const addonOrNull = loadMediaAddon()
if (!addonOrNull) throw new Error('media addon missing')
const addon = addonOrNull

const seconds = Math.min(Number(process.argv[2] ?? 5), 10)
const rounds = Math.min(Number(process.argv[3] ?? 3), 7)
const rates = (process.argv[4] ?? '10000,20000').split(',').map(Number)
const idle = Math.min(Number(process.argv[5] ?? 1000), 4000) // 0: no memory phase
const which = (process.argv[6] ?? 'ncores,rtpengine,ts').split(',') as RelayName[]
for (const w of which) if (!RELAYS.includes(w)) throw new Error(`unknown relay '${w}' (${RELAYS.join(', ')})`)
// Ports per relay: 1,050 idle calls × 4 ports for the memory phase, else 400 streams × 4 ports plus
// the ports in quarantine from the previous case; below the ephemeral range (32768+) by default.
const PORT_SPAN = idle > 0 ? 7_000 : 3_500

interface Relay {
  name: RelayName
  proc: ChildProcess
  ng: NgClient
  log: string
}

async function startRelay(name: RelayName, base: number): Promise<Relay> {
  const ngPort = await freePort()
  let proc: ChildProcess
  let cleanup = () => {}
  if (name === 'rtpengine' || name === 'rtprt' || name === 'rtpppt') {
    proc = spawn(
      '/usr/bin/rtpengine',
      [
        '--config-file=none',
        '-f',
        '-E',
        '-L',
        '3',
        '--table=-1',
        '-i',
        '127.0.0.1',
        '-n',
        `127.0.0.1:${ngPort}`,
        '-m',
        String(base),
        '-M',
        String(base + PORT_SPAN - 1),
        ...(name === 'rtprt' ? ['--scheduling=fifo', '--priority=10'] : []),
        ...(name === 'rtpppt' ? ['--poller-per-thread'] : []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
  } else {
    const config: SbcConfig = {
      schemaVersion: 1,
      generation: 1,
      namespace: 'bench',
      controller: null,
      redis: { mode: 'memory', url: null, sentinel: null, password: null },
      nat: null,
      security: { maliciousSignatures: [], rateLimit: null, unclassified: 'Allow' },
      realms: [
        {
          name: 'bench',
          network: 'LAN',
          bindAddress: '127.0.0.1',
          portRange: { min: base, max: base + PORT_SPAN - 1 },
          advertisedAddress: null,
          maxSessions: 100_000,
        },
      ],
      interfaces: [],
      profiles: [],
      groups: [],
      routes: [],
    }
    const file = join(tmpdir(), `media-relay-bench-${process.pid}-${name}.json`)
    writeFileSync(file, JSON.stringify(config))
    cleanup = () => rmSync(file, { force: true })
    proc = spawn(
      // The shim, as the image runs it: the product's V8 flags (bin/kube-sbc); exec keeps the PID.
      'bin/kube-sbc',
      [
        'media',
        '--config',
        file,
        '--ng-port',
        String(ngPort),
        '--http-port',
        String(await freePort()),
        '--workers',
        name === 'ts'
          ? '0'
          : name === 'native4'
            ? '4'
            : ['ncores', 'nrt', 'nspread', 'ncslice', 'nnotick'].includes(name)
              ? String(availableParallelism())
              : '1',
        '--port-quarantine-ms',
        '2000', // a native endpoint is closed by its worker shortly after delete
        // The default media timeout (60 s) stays on: its 1-s tick reads every leg's idle time while the
        // packets flow, as in production (until 2026-11-27 08:55 the bench ran with it off).
        '--drain-seconds',
        '0',
        '--log-level',
        'warn',
        ...(name === 'nrt' ? ['--worker-priority', '10'] : []),
        ...(name === 'nspread' ? ['--worker-spill-pps', '0'] : []),
        ...(name === 'nnotick' ? ['--media-timeout', '0'] : []),
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env:
          name === 'nslice' || name === 'ncslice'
            ? { ...process.env, KSBC_RELAY_SLICE_US: '100' }
            : process.env,
      },
    )
  }
  const relay: Relay = {
    name,
    proc,
    ng: await NgClient.connect({ host: '127.0.0.1', port: ngPort, retransmitMs: 500, retransmissions: 4 }),
    log: '',
  }
  proc.stderr?.on('data', (d: Buffer) => {
    relay.log = (relay.log + d.toString()).slice(-4000)
  })
  proc.once('exit', cleanup)
  for (let i = 0; ; i++) {
    try {
      await relay.ng.ping()
      return relay
    } catch (err) {
      if (i >= 20 || proc.exitCode !== null) throw new Error(`${name} did not start: ${err} ${relay.log}`)
    }
  }
}

async function stopRelay(r: Relay): Promise<void> {
  await r.ng.close()
  if (r.proc.exitCode !== null || r.proc.signalCode !== null) return
  r.proc.kill('SIGTERM')
  const t = setTimeout(() => r.proc.kill('SIGKILL'), 10_000)
  await once(r.proc, 'exit')
  clearTimeout(t)
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return Number(f[11]) + Number(f[12]) // utime + stime of the thread group (fields 14, 15)
}

/** Sum over the process's threads of /proc/<pid>/task/<tid>/schedstat: CPU ns, run-queue wait ns, timeslices. */
function schedstat(pid: number): { wait: number; slices: number } {
  let wait = 0
  let slices = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ')
      wait += Number(f[1])
      slices += Number(f[2])
    } catch {
      // the thread ended between readdir and read
    }
  }
  return { wait, slices }
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
}

// MEDIA_BENCH_PT_MAP=1: the offer adds telephone-event on 101, the answer on 96, so every call has a
// payload type map (101 ↔ 96; the PCMU packets themselves keep type 0): what a call whose legs
// numbered a dynamic codec differently costs on each relay.
const PT_MAP = process.env.MEDIA_BENCH_PT_MAP === '1'
const sdp = (port: number, proto: string, extra = '', te?: number) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} ${proto} 0${te === undefined ? '' : ` ${te}`}\r\na=rtpmap:0 PCMU/8000\r\n${te === undefined ? '' : `a=rtpmap:${te} telephone-event/8000\r\n`}a=sendrecv\r\n${extra}`
// MEDIA_BENCH_MODES=RTP→RTP,SRTP→SRTP: only these cases (default all three).
const modes = (process.env.MEDIA_BENCH_MODES?.split(',') ?? [...MODES]) as Mode[]
for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode '${m}' (${MODES.join(', ')})`)
const SINK_POLL_US = Number(process.env.MEDIA_BENCH_SINK_POLL_US ?? 0)
// MEDIA_BENCH_STALLS=N: every packet at least N µs late is kept, and each run prints its stalls.
const STALL_US = Number(process.env.MEDIA_BENCH_STALLS ?? 0)
// MEDIA_BENCH_SLICES=K: each run is K slices per relay, the relays taking turns (default 5).
const SLICES = Math.max(1, Number(process.env.MEDIA_BENCH_SLICES ?? 5))

/**
 * Late packets grouped into stalls: packets sent less than 2 ms apart belong to one. Per stall its
 * start (ms into the run, by send time), its span of send times and its worst latency; the count of
 * late packets first. What a p99 is made of: a few long stalls, or many short ones, and when.
 */
function stallText(late: readonly number[]): string {
  const pts: [number, number][] = []
  for (let i = 0; i + 1 < late.length; i += 2) pts.push([late[i] as number, late[i + 1] as number])
  pts.sort((a, b) => a[0] - b[0])
  const stalls: { start: number; end: number; worst: number; n: number }[] = []
  for (const [t, lat] of pts) {
    const s = stalls.at(-1)
    if (s && t - s.end < 2_000) {
      s.end = t
      s.worst = Math.max(s.worst, lat)
      s.n++
    } else stalls.push({ start: t, end: t, worst: lat, n: 1 })
  }
  const list = stalls
    .map(
      (s) =>
        `${(s.start / 1000).toFixed(1)}ms+${((s.end - s.start) / 1000).toFixed(1)}:${(s.worst / 1000).toFixed(1)}ms×${s.n}`,
    )
    .join(' ')
  return `${pts.length} late in ${stalls.length} stalls [start+span:worst×packets] ${list}`
}
const offerTe = PT_MAP ? 101 : undefined
const answerTe = PT_MAP ? 96 : undefined

/** Offers and answers one call; returns the port the offerer (the generator) sends to. */
async function setupCall(r: Relay, callId: string, mode: Mode, sinkPort: number, offerCrypto: string) {
  const offer = await r.ng.request({
    command: 'offer',
    'call-id': callId,
    'from-tag': 'a',
    sdp:
      mode === 'SRTP→SRTP'
        ? sdp(9, 'RTP/SAVP', `a=crypto:1 ${SUITE} ${offerCrypto}\r\n`, offerTe)
        : sdp(9, 'RTP/AVP', '', offerTe),
    ...(mode === 'RTP→SRTP' ? { 'transport-protocol': 'RTP/SAVP' } : {}),
  })
  const srtp = mode !== 'RTP→RTP'
  // Accept the relay's AES_CM_128_HMAC_SHA1_80 line by its tag (RFC 4568 §7.1.3), with our own key.
  const tag = new RegExp(`a=crypto:(\\d+) ${SUITE} `).exec(String(offer.sdp))?.[1]
  if (srtp && tag === undefined) throw new Error(`${r.name}: no ${SUITE} in the offer: ${offer.sdp}`)
  const answer = await r.ng.request({
    command: 'answer',
    'call-id': callId,
    'from-tag': 'a',
    'to-tag': 'b',
    sdp: srtp
      ? sdp(
          sinkPort,
          'RTP/SAVP',
          `a=crypto:${tag} ${SUITE} ${formatSdesKeyParams(generateSdesKey(SUITE))}\r\n`,
          answerTe,
        )
      : sdp(sinkPort, 'RTP/AVP', '', answerTe),
  })
  const m = /m=audio (\d+)/.exec(String(answer.sdp))
  if (!m) throw new Error(`${r.name}: answer without m=: ${JSON.stringify(answer)}`)
  return Number(m[1])
}

/** Runs `f` over 0..n-1 with `width` requests in flight. */
async function parallel(n: number, width: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await f(next++)
    }),
  )
}

interface RunResult {
  us: number
  loss: number
  sent: number
  achieved: number
  /** Run-queue wait per timeslice of the relay's threads (schedstat), µs; and the timeslices. */
  waitUs?: number
  slices?: number
  p50?: number
  p99?: number
  /** Hypervisor steal during the run, % of all CPU time of the machine (/proc/stat). */
  stealPct?: number
  /** With MEDIA_BENCH_STALLS: the run's late packets grouped into stalls (stallText). */
  stalls?: string
}

/** The machine's CPU time so far, in ticks: all of it, and what the hypervisor stole (/proc/stat `cpu`). */
function cpuStat(): { total: number; steal: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = f.slice(0, 8).reduce((a, b) => a + (b || 0), 0)
  return { total, steal: f[7] ?? 0 }
}

/**
 * What one relay (or `direct`) needs for a case's load: its calls set up, a generator, the ports the
 * generator sends to, the generator's SRTP session; `done()` deletes the calls.
 */
interface Prepared {
  gen: ReturnType<typeof addon.loadgenCreate>
  ports: number[]
  genSrtp: Parameters<typeof addon.loadgenRun>[5]
  pid?: number
  done(): Promise<void>
}

/** The generator's outbound SRTP session: SRTP on the wire for SRTP→SRTP, else none. */
function generatorSrtp(mode: Mode, key: ReturnType<typeof generateSdesKey>): Prepared['genSrtp'] {
  return mode === 'SRTP→SRTP'
    ? addon.srtpCreate(1, Buffer.concat([key.masterKey, key.masterSalt]), true, SrtpEngine.libsrtp)
    : null
}

async function prepareCase(r: Relay, tag: string, mode: Mode, rate: number): Promise<Prepared> {
  const offerKey = generateSdesKey(SUITE)
  const genSrtp = generatorSrtp(mode, offerKey)
  const gen = addon.loadgenCreate()
  const streams = Math.round(rate / 50)
  const ports: number[] = new Array(streams)
  const crypto = formatSdesKeyParams(offerKey)
  await parallel(streams, 16, async (i) => {
    ports[i] = await setupCall(r, `${tag}-${i}`, mode, gen.port, crypto)
  })
  await new Promise((res) => setTimeout(res, 300))
  if (PT_MAP && !r.name.startsWith('rtp')) {
    // Which relay a kube-sbc call with a payload type map ended up on (native since the worker maps).
    const q = await r.ng.request({ command: 'query', 'call-id': `${tag}-0` })
    const tags = q.tags as Record<string, { medias: { streams: { relay: string }[] }[] }>
    console.error(`${r.name} ${mode}: mapped call on the ${tags.a?.medias[0]?.streams[0]?.relay} relay`)
  }
  return {
    gen,
    ports,
    genSrtp,
    pid: r.proc.pid as number,
    async done() {
      // 'delete delay' 0: rtpengine otherwise holds a deleted call's ports for 30 s, and with two
      // relays and short runs the next case ran out of ports in its range.
      await parallel(streams, 16, async (i) => {
        await r.ng.request({
          command: 'delete',
          'call-id': `${tag}-${i}`,
          'from-tag': 'a',
          'delete delay': 0,
        })
      })
    },
  }
}

/** The generator straight into its own sink: the latency floor of the harness and the machine. */
function prepareDirect(mode: Mode, rate: number): Prepared {
  const genSrtp = generatorSrtp(mode, generateSdesKey(SUITE))
  const gen = addon.loadgenCreate()
  const ports = new Array<number>(Math.round(rate / 50)).fill(gen.port)
  return { gen, ports, genSrtp, done: async () => {} }
}

/** One slice of a run: `count` packets of the prepared load, the relay's CPU and scheduling around it. */
interface Slice {
  load: Awaited<ReturnType<typeof addon.loadgenRun>>
  cpuUs: number
  wait: number
  slices: number
  steal: number
  total: number
}

async function runSlice(p: Prepared, rate: number, count: number): Promise<Slice> {
  const t0 = p.pid ? cpuTicks(p.pid) : 0
  const s0 = p.pid ? schedstat(p.pid) : { wait: 0, slices: 0 }
  const c0 = cpuStat()
  const load = await addon.loadgenRun(
    p.gen.handle,
    p.ports,
    rate,
    count,
    160,
    p.genSrtp,
    SINK_POLL_US,
    STALL_US,
  )
  const c1 = cpuStat()
  const cpuUs = p.pid ? (cpuTicks(p.pid) - t0) * 10_000 : 0 // CLK_TCK = 100
  const s1 = p.pid ? schedstat(p.pid) : { wait: 0, slices: 0 }
  return {
    load,
    cpuUs,
    wait: s1.wait - s0.wait,
    slices: s1.slices - s0.slices,
    steal: c1.steal - c0.steal,
    total: c1.total - c0.total,
  }
}

/** A relay's slices of one case in one round, as one run: CPU and loss summed, latency pooled. */
function combine(slices: readonly Slice[]): RunResult {
  const sent = slices.reduce((a, x) => a + x.load.sent, 0)
  const received = slices.reduce((a, x) => a + x.load.received, 0)
  const elapsedMs = slices.reduce((a, x) => a + x.load.elapsedMs, 0)
  const cpuUs = slices.reduce((a, x) => a + x.cpuUs, 0)
  const wait = slices.reduce((a, x) => a + x.wait, 0)
  const nslices = slices.reduce((a, x) => a + x.slices, 0)
  const steal = slices.reduce((a, x) => a + x.steal, 0)
  const total = slices.reduce((a, x) => a + x.total, 0)
  const lat = new Uint32Array(received)
  let at = 0
  for (const x of slices) {
    const l = x.load.latencies as Uint32Array | undefined
    if (l) lat.set(l, at)
    at += l?.length ?? 0
  }
  const pooled = lat.subarray(0, at).sort()
  const late = slices.flatMap((x) => x.load.late ?? [])
  return {
    us: cpuUs / Math.max(1, sent),
    loss: sent - received,
    sent,
    achieved: Math.round(sent / (elapsedMs / 1000)),
    waitUs: wait / 1000 / Math.max(1, nslices),
    slices: nslices,
    stealPct: (100 * steal) / Math.max(1, total),
    ...(at > 0 ? { p50: pooled[at >> 1] as number, p99: pooled[Math.floor((at * 99) / 100)] as number } : {}),
    ...(STALL_US > 0 && slices.length === 1 ? { stalls: stallText(late) } : {}),
  }
}

/** RSS delta per idle session: N calls offered and answered (RTP→RTP), measured, then deleted. */
async function memoryPerSession(r: Relay, tag: string): Promise<number> {
  const pid = r.proc.pid as number
  const sink = addon.loadgenCreate()
  // Warm-up (first allocations of pools, JIT), then the measured batch.
  await parallel(50, 16, async (i) => void (await setupCall(r, `${tag}-w${i}`, 'RTP→RTP', sink.port, '')))
  await new Promise((res) => setTimeout(res, 500))
  const before = rssKb(pid)
  await parallel(idle, 16, async (i) => void (await setupCall(r, `${tag}-${i}`, 'RTP→RTP', sink.port, '')))
  await new Promise((res) => setTimeout(res, 1500))
  const after = rssKb(pid)
  await parallel(idle, 16, async (i) => {
    await r.ng.request({ command: 'delete', 'call-id': `${tag}-${i}`, 'from-tag': 'a' })
  })
  await parallel(50, 16, async (i) => {
    await r.ng.request({ command: 'delete', 'call-id': `${tag}-w${i}`, 'from-tag': 'a' })
  })
  return ((after - before) * 1024) / idle
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

const results = new Map<string, RunResult[]>()
const memory = new Map<RelayName, number[]>()
const loads: number[] = []
const out = (s: string) => process.stdout.write(`${s}\n`)
out(
  `media-relay: node ${process.version}, ${seconds} s per run, ${rounds} round(s), rates ${rates.join(',')}, ` +
    `${idle} idle sessions, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
)
// MEDIA_BENCH_PORT_BASE moves the ranges when another process on the machine holds 10000+.
const portBase = Number(process.env.MEDIA_BENCH_PORT_BASE ?? 10_000)
if (!Number.isInteger(portBase) || portBase < 1024 || portBase + PORT_SPAN * which.length > 65_535)
  throw new Error(`MEDIA_BENCH_PORT_BASE: ${which.length} ranges of ${PORT_SPAN} ports must fit below 65536`)
const baseFor = (i: number) => portBase + PORT_SPAN * i
for (let round = 0; round < rounds; round++) {
  const order = which.map((_, i) => which[(i + round) % which.length] as RelayName)
  const targets: (RelayName | 'direct')[] = [...which, 'direct']
  const runOrder = targets.map((_, i) => targets[(i + round) % targets.length] as RelayName | 'direct')
  const relays: Relay[] = []
  try {
    for (const [i, name] of which.entries()) relays.push(await startRelay(name, baseFor(i)))
    for (const name of idle > 0 ? order : []) {
      const r = relays.find((x) => x.name === name) as Relay
      const b = await memoryPerSession(r, `mem-${round}`)
      memory.set(name, [...(memory.get(name) ?? []), b])
      out(`round ${round + 1} ${name.padEnd(9)} memory: ${Math.round(b)} B/session (RSS delta over ${idle})`)
    }
    for (const rate of rates) {
      for (const mode of modes) {
        // Every relay's calls first; then the load in SLICES slices per relay, the relays taking
        // turns slice by slice, so that each sees the machine (the hypervisor's steal comes and goes
        // within seconds) for the same stretches of time; a relay's slices make its run.
        const prepared = new Map<string, Prepared>()
        for (const name of runOrder)
          prepared.set(
            name,
            name === 'direct'
              ? prepareDirect(mode, rate)
              : await prepareCase(
                  relays.find((x) => x.name === name) as Relay,
                  `c${round}-${rate}-${mode}`,
                  mode,
                  rate,
                ),
          )
        const count = Math.floor(Math.min(rate * seconds, 200_000) / SLICES)
        const sliced = new Map<string, Slice[]>()
        for (let k = 0; k < SLICES; k++)
          for (const name of runOrder) {
            loads.push(loadavg()[0] as number)
            const x = await runSlice(prepared.get(name) as Prepared, rate, count)
            sliced.set(name, [...(sliced.get(name) ?? []), x])
          }
        for (const p of prepared.values()) await p.done()
        for (const name of runOrder) {
          const res = combine(sliced.get(name) ?? [])
          const key = `${name}|${mode}|${rate}`
          results.set(key, [...(results.get(key) ?? []), res])
          out(
            `round ${round + 1} ${name.padEnd(9)} ${mode.padEnd(9)} ${String(rate).padStart(5)} pps ` +
              `(${res.achieved} achieved): ${res.us.toFixed(1).padStart(5)} µs CPU/packet, loss ${res.loss}/${res.sent}, ` +
              `latency p50 ${res.p50 ?? '-'} µs p99 ${res.p99 ?? '-'} µs, ` +
              `run-queue wait ${res.waitUs?.toFixed(1) ?? '-'} µs × ${res.slices ?? '-'} slices, ` +
              `steal ${res.stealPct?.toFixed(1) ?? '-'} %, load ${loadavg()[0]?.toFixed(2)}`,
          )
          if (res.stalls) out(`  stalls (≥ ${STALL_US} µs): ${res.stalls}`)
        }
      }
    }
  } finally {
    for (const r of relays) await stopRelay(r)
  }
}

out('')
const steals = [...results.values()].flat().map((r) => r.stealPct ?? 0)
out(
  `summary (median over ${rounds} rounds; load average 1 min median ${median(loads).toFixed(2)}; ` +
    `hypervisor steal per run median ${median(steals).toFixed(1)} %, max ${Math.max(...steals).toFixed(1)} %)`,
)
out(
  '| path | rate | relay | µs CPU/packet | loss (per run) | latency p50 / p99 µs | p99 per run µs | relay-added p50 / p99 µs (− direct, same round) | ratio to rtpengine |',
)
out('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for (const rate of rates) {
  for (const mode of modes) {
    const ref = results.get(`rtpengine|${mode}|${rate}`)
    const refSrtp = results.get(`rtpengine|RTP→SRTP|${rate}`)
    const direct = results.get(`direct|${mode}|${rate}`) ?? []
    for (const name of [...which, 'direct' as const]) {
      const rs = results.get(`${name}|${mode}|${rate}`) ?? []
      const us = median(rs.map((x) => x.us))
      const lat = `${median(rs.map((x) => x.p50 ?? Number.NaN))} / ${median(rs.map((x) => x.p99 ?? Number.NaN))}`
      const added = (k: 'p50' | 'p99') =>
        median(rs.map((x, i) => (x[k] ?? Number.NaN) - (direct[i]?.[k] ?? Number.NaN)))
      const addedText = name === 'direct' ? '–' : `${added('p50')} / ${added('p99')}`
      let ratio = '–'
      if (name !== 'rtpengine' && name !== 'direct' && ref) {
        ratio = (us / median(ref.map((x) => x.us))).toFixed(2)
        if (mode === 'SRTP→SRTP' && refSrtp)
          ratio += ` (vs RTP→SRTP ${(us / median(refSrtp.map((x) => x.us))).toFixed(2)})`
      }
      out(
        `| ${mode} | ${rate} | ${name} | ${us.toFixed(1)} (${Math.min(...rs.map((x) => x.us)).toFixed(1)}–${Math.max(
          ...rs.map((x) => x.us),
        ).toFixed(
          1,
        )}) | ${rs.map((x) => x.loss).join(', ')} | ${lat} | ${rs.map((x) => x.p99).join(', ')} | ${addedText} | ${ratio} |`,
      )
    }
  }
}
// The issue 5 goals for the product default (ncores) against rtpengine, case by case.
if (which.includes('ncores') && which.includes('rtpengine')) {
  out('')
  out('kube-sbc = ncores (product default: one worker per core) against rtpengine, medians of this run:')
  out('| path | rate | CPU ratio (goal) | loss | relay-added p99 µs kube-sbc / rtpengine | p99 goal |')
  out('| --- | --- | --- | --- | --- | --- |')
  for (const rate of rates) {
    for (const mode of modes) {
      const get = (n: string, m: Mode = mode) => results.get(`${n}|${m}|${rate}`) ?? []
      const direct = get('direct')
      const cpu = (n: string, m: Mode = mode) => median(get(n, m).map((x) => x.us))
      const addedP99 = (n: string) =>
        median(get(n).map((x, i) => (x.p99 ?? Number.NaN) - (direct[i]?.p99 ?? Number.NaN)))
      const srtp = mode === 'SRTP→SRTP'
      const ratio = cpu('ncores') / cpu('rtpengine', srtp ? 'RTP→SRTP' : mode)
      const limit = srtp ? 1.0 : 0.8
      const ours = addedP99('ncores')
      const theirs = addedP99('rtpengine')
      out(
        `| ${mode} | ${rate} | ${ratio.toFixed(2)} (≤ ${limit.toFixed(1)}${srtp ? ' of its RTP→SRTP' : ''}) ${ratio <= limit ? 'met' : 'MISSED'} | ` +
          `${get('ncores')
            .map((x) => x.loss)
            .join(', ')} | ${ours} / ${theirs} | ${ours <= theirs ? 'met' : 'MISSED'} |`,
      )
    }
  }
}
for (const [name, bs] of memory)
  out(`memory ${name}: ${Math.round(median(bs))} B/session (${bs.map((b) => Math.round(b)).join(', ')})`)
