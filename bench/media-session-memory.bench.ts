/**
 * Memory per media session, kube-sbc media against rtpengine, side by side (issue 5 Benchmark,
 * "≤ 2 KB per session"; docs/benchmarks/media.md).
 *
 * Both relays run at once as separate processes on loopback, each with its own 11,000-port range:
 * `kube-sbc media` (native relay, 1 worker) and rtpengine (Debian rtpengine-daemon, userspace,
 * `--table=-1`). Both get identical offer/answer dictionaries (RTP→RTP, one audio stream, RTCP on its
 * own port, so 4 ports and 4 sockets per call on each) from the same NG client. After a warm-up of
 * 100 calls, calls are added up to each checkpoint N; at each checkpoint we wait `settle` seconds
 * (default 32: both relays' NG reply caches keep a reply 30 s and must not count as session state),
 * ping (our cache expires lazily on the next request), and read VmRSS of each process from
 * /proc/<pid>/status.
 *
 * Reported per relay: the **marginal** bytes per session, (RSS(N2) − RSS(N1)) / (N2 − N1), which is
 * what one more call costs once the process's pools and heaps have grown to working size; and the
 * older figure, (RSS(N1) − RSS(warm)) / N1, which also carries one-time growth (V8's young
 * generation, malloc arenas) spread over N1 calls. RSS is the process's own memory: socket buffers
 * and `struct sock` live in the kernel and count for neither relay (4 UDP sockets per call each).
 *
 * Bounded: at most 2,600 calls per relay, every process started here is stopped by its PID.
 * Usage: node bench/media-session-memory.bench.ts [n1=500] [n2=2500] [settle-s=32] [rounds=1]
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { mediaConfig } from '../e2e/media/helpers.ts'
import { NgClient } from '../lib/media/control/ng-client.ts'
import { freePort } from '../test/harness/free-port.ts'

const n1 = Math.min(Number(process.argv[2] ?? 500), 2000)
const n2 = Math.min(Math.max(Number(process.argv[3] ?? 2500), n1 + 100), 2600)
const settleMs = Math.min(Number(process.argv[4] ?? 32), 60) * 1000
const rounds = Math.min(Number(process.argv[5] ?? 1), 3)
const WARM = 100

type Name = 'native' | 'rtpengine'
interface Relay {
  name: Name
  proc: ChildProcess
  ng: NgClient
  log: string
}

async function start(name: Name, base: number): Promise<Relay> {
  const ngPort = await freePort()
  let proc: ChildProcess
  let cleanup = () => {}
  const max = base + 10_999
  if (name === 'rtpengine') {
    proc = spawn(
      '/usr/bin/rtpengine',
      ['--config-file=none', '-f', '-E', '-L', '3', '--table=-1', '-i', '127.0.0.1'].concat([
        '-n',
        `127.0.0.1:${ngPort}`,
        '-m',
        String(base),
        '-M',
        String(max),
      ]),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
  } else {
    const file = join(tmpdir(), `media-memory-bench-${process.pid}.json`)
    writeFileSync(
      file,
      JSON.stringify(mediaConfig([{ name: 'bench', min: base, max, maxSessions: 100_000 }])),
    )
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
        '1',
        '--media-timeout',
        '0',
        '--drain-seconds',
        '0',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
  }
  const ng = await NgClient.connect({
    host: '127.0.0.1',
    port: ngPort,
    retransmitMs: 500,
    retransmissions: 4,
  })
  const r: Relay = { name, proc, ng, log: '' }
  proc.stderr?.on('data', (d: Buffer) => {
    r.log = (r.log + d.toString()).slice(-4000)
  })
  proc.once('exit', cleanup)
  for (let i = 0; ; i++) {
    try {
      await ng.ping()
      return r
    } catch (err) {
      if (i >= 20 || proc.exitCode !== null) throw new Error(`${name} did not start: ${err} ${r.log}`)
    }
  }
}

async function stop(r: Relay): Promise<void> {
  await r.ng.close()
  if (r.proc.exitCode !== null || r.proc.signalCode !== null) return
  r.proc.kill('SIGTERM')
  const t = setTimeout(() => r.proc.kill('SIGKILL'), 10_000)
  await once(r.proc, 'exit')
  clearTimeout(t)
}

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])

const sdp = (port: number) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n`

async function addCalls(r: Relay, from: number, to: number): Promise<void> {
  let next = from
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < to) {
        const id = `mem-${next++}`
        await r.ng.request({ command: 'offer', 'call-id': id, 'from-tag': 'a', sdp: sdp(9) })
        await r.ng.request({
          command: 'answer',
          'call-id': id,
          'from-tag': 'a',
          'to-tag': 'b',
          sdp: sdp(5000),
        })
      }
    }),
  )
}

/** Waits for the reply caches to expire, pings (our cache expires on the next request), reads RSS. */
async function settle(relays: Relay[]): Promise<Map<Name, number>> {
  await new Promise((r) => setTimeout(r, settleMs))
  for (const r of relays) await r.ng.ping()
  await new Promise((r) => setTimeout(r, 500))
  return new Map(relays.map((r) => [r.name, rssKb(r.proc.pid as number) * 1024]))
}

const out = (s: string) => process.stdout.write(`${s}\n`)
out(
  `media-session-memory: node ${process.version}, checkpoints ${WARM} (warm-up) / ${n1} / ${n2} calls, ` +
    `settle ${settleMs / 1000} s, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
)
for (let round = 0; round < rounds; round++) {
  const relays: Relay[] = []
  try {
    relays.push(await start('native', 10_000), await start('rtpengine', 21_000))
    const warm = await Promise.all(relays.map((r) => addCalls(r, -WARM, 0))).then(() => settle(relays))
    await Promise.all(relays.map((r) => addCalls(r, 0, n1)))
    const at1 = await settle(relays)
    await Promise.all(relays.map((r) => addCalls(r, n1, n2)))
    const at2 = await settle(relays)
    for (const r of relays) {
      const w = warm.get(r.name) as number
      const a = at1.get(r.name) as number
      const b = at2.get(r.name) as number
      out(
        `round ${round + 1} ${r.name.padEnd(9)} RSS warm ${(w / 1048576).toFixed(1)} MiB, ` +
          `${n1}: ${(a / 1048576).toFixed(1)} MiB, ${n2}: ${(b / 1048576).toFixed(1)} MiB → ` +
          `marginal ${Math.round((b - a) / (n2 - n1))} B/session, first ${n1}: ${Math.round((a - w) / n1)} B/session ` +
          `(load ${loadavg()[0]?.toFixed(2)})`,
      )
    }
  } finally {
    for (const r of relays) await stop(r)
  }
}
