/**
 * Where a media session's memory goes (issue 5 Benchmark, "memory per session"): `MediaPod` in this
 * process (native relay with `--workers`-like argument, default 1; 0 = dgram relay), N idle RTP→RTP
 * calls offered and answered through the NG client, then `process.memoryUsage()` deltas after a full
 * GC, divided by N. Complements bench/media-relay.bench.ts, which reports the RSS delta of a separate
 * `kube-sbc media` process (that includes V8 heap reservation the GC does not give back).
 * With settle-ms ≥ 31,000 the NG reply cache (30 s TTL, expired on the next request: we ping) is
 * gone, so what is left is the sessions themselves. Two checkpoints: after `sessions` calls, and after
 * `sessions2` (default 2 × sessions): the second line is the marginal cost per call between them.
 * With `snapshot-dir`, a V8 heap snapshot is written at each checkpoint (a.heapsnapshot: warm-up,
 * b: after `sessions`, c: after `sessions2`) for a by-type diff (docs/benchmarks/media.md); writing
 * them adds to the process's own figures, so read the memoryUsage lines from a run without.
 * Loopback only, ports 10000-31999. Usage:
 *   node --expose-gc bench/media-session-heap.bench.ts [workers=1] [sessions=1000] [settle-ms=1500] [sessions2] [snapshot-dir]
 */

import { join } from 'node:path'
import { writeHeapSnapshot } from 'node:v8'
import { mediaConfig } from '../e2e/media/helpers.ts'
import { NgClient } from '../lib/media/control/ng-client.ts'
import { nullLogger } from '../lib/observability/logger.ts'
import { createMetricsRegistry } from '../lib/observability/metrics-registry.ts'
import { MemoryStore } from '../lib/state/memory-store.ts'
import { MediaPod } from '../media-pod/src/media-pod.ts'

const workers = Number(process.argv[2] ?? 1)
const n = Math.min(Number(process.argv[3] ?? 1000), 5000)
// 31,000 lets the NG reply cache (30 s TTL) expire: what is left is the sessions themselves.
const settleMs = Math.min(Number(process.argv[4] ?? 1500), 60_000)
const n2 = Math.min(Math.max(Number(process.argv[5] ?? 2 * n), n + 100), 5400)
const snapshotDir = process.argv[6]
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')
const pod = await MediaPod.start({
  config: mediaConfig([{ name: 'bench', min: 10_000, max: 31_999, maxSessions: 100_000 }]),
  store: new MemoryStore(),
  logger: nullLogger,
  registry: createMetricsRegistry({ component: 'media' }),
  podId: 'bench',
  nodeAddress: '127.0.0.1',
  ngHost: '127.0.0.1',
  ngPort: 0,
  httpPort: 0,
  workers,
  // The sessions here are idle (no RTP), so a media timeout would end them mid-measurement and the
  // figure would count what a timed-out session holds until its delete (a timer since 5c94821), not
  // what a live call holds. Live calls send media; their timeout never fires.
  mediaTimeoutMs: 0,
})
const ng = await NgClient.connect({ host: '127.0.0.1', port: pod.ngAddress.port })
const sdp = (port: number) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n`
const setup = async (id: string) => {
  await ng.request({ command: 'offer', 'call-id': id, 'from-tag': 'a', sdp: sdp(9) })
  await ng.request({ command: 'answer', 'call-id': id, 'from-tag': 'a', 'to-tag': 'b', sdp: sdp(5000) })
}
try {
  for (let i = 0; i < 50; i++) await setup(`warm-${i}`)
  const measure = async (checkpoint: string) => {
    await new Promise((r) => setTimeout(r, settleMs))
    await ng.ping() // expires the NG reply cache entries older than 30 s
    // Twice: V8 takes the ArrayBuffers a full GC frees (the expired NG replies) off `external` only at
    // the next one, so after one GC `external` still counted ~1.77 KB per call that was already freed.
    gc()
    gc()
    if (snapshotDir) writeHeapSnapshot(join(snapshotDir, `${checkpoint}.heapsnapshot`))
    return process.memoryUsage()
  }
  const a = await measure('a')
  for (let i = 0; i < n; i++) await setup(`call-${i}`)
  const b = await measure('b')
  for (let i = n; i < n2; i++) await setup(`call-${i}`)
  const c = await measure('c')
  process.stdout.write(
    `media-session-heap: node ${process.version}, relay ${pod.relay}, ${n} then ${n2} idle sessions, measured ${settleMs} ms after the last answer, after a full GC\n`,
  )
  process.stdout.write(`${''.padEnd(12)} first ${n}     ${n} → ${n2} (marginal)\n`)
  for (const k of Object.keys(a) as (keyof typeof a)[])
    process.stdout.write(
      `${k.padEnd(12)} ${String(Math.round((b[k] - a[k]) / n)).padStart(6)} B/session ${String(Math.round((c[k] - b[k]) / (n2 - n))).padStart(6)} B/session\n`,
    )
} finally {
  await ng.close()
  await pod.close()
}
