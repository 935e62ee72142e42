/**
 * Redis cost of dialog state (issue 4 benchmark): round trips and bytes per call for a typical
 * lifecycle, and Redis memory per active dialog. Starts its own redis-server on loopback.
 *
 *   node bench/state-redis.bench.ts [calls=2000] [dialogs=10000]
 *
 * Figures go to docs/benchmarks/state.md.
 */
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/state/redis-store.ts'
import { answered, testCall } from '../lib/state/test-call.ts'
import { startRedis } from '../test/harness/redis.ts'

const CALLS = Math.min(Number(process.argv[2] ?? 2000), 50_000)
const DIALOGS = Math.min(Number(process.argv[3] ?? 10_000), 100_000)
const DEADLINE = Date.now() + 120_000

const redis = await startRedis()
const admin = new Redis({ port: redis.port, host: '127.0.0.1' })
let roundTrips = 0
const store = new RedisStore({ url: redis.url, commandTimeoutMs: 5000, observer: () => roundTrips++ })
await store.connected()

async function info(section: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const line of (await admin.info(section)).split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

try {
  // --- Lifecycle: create, answer (found by the 200's tags), re-INVITE from A, BYE from B (endByLeg).
  // findByLeg is one round trip (sbcFindByLeg) since 2026-11-27; it was MGET + HGET.
  const lifecycle = async (id: string) => {
    const c = await store.createCall(testCall(id))
    const f1 = await store.findByLeg({ callId: c.b.callId, localTag: c.b.localTag })
    const a = await store.updateCall(answered(f1!.call))
    const f2 = await store.findByLeg({ callId: a.a.callId, remoteTag: a.a.remoteTag, localTag: a.a.localTag })
    await store.updateCall({
      ...f2!.call,
      a: { ...f2!.call.a, remoteCSeq: 102 },
      b: { ...f2!.call.b, localCSeq: 2 },
    })
    // The BYE from B: found, CSeq-checked and removed with its holds in one script (endByLeg), as
    // the B2BUA does since 2026-11-27 (it was findByLeg, then deleteCall after the BYE's answer).
    const bye = await store.endByLeg(
      { callId: c.b.callId, localTag: c.b.localTag, remoteTag: 'as5f2a1c7d' },
      1,
    )
    if (!bye?.ended) throw new Error(`call ${id} not ended by its BYE`)
  }
  await lifecycle('warmup') // loads the scripts
  await admin.config('RESETSTAT')
  const rt0 = roundTrips
  const before = await info('stats')
  const t0 = performance.now()
  let done = 0
  const worker = async (w: number) => {
    for (let i = w; i < CALLS && Date.now() < DEADLINE; i += 32) {
      await lifecycle(`lc${i}`)
      done++
    }
  }
  await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)))
  const secs = (performance.now() - t0) / 1000
  const after = await info('stats')
  const cmd = await info('commandstats')
  const per = (k: string) => (Number(after[k]) - Number(before[k] ?? 0)) / done
  const top = ['evalsha', 'eval', 'hget', 'mget'].map((c) => {
    const m = /calls=(\d+)/.exec(cmd[`cmdstat_${c}`] ?? '')
    return `${c}=${(Number(m?.[1] ?? 0) / done).toFixed(2)}`
  })
  console.log(
    `lifecycle: ${done} calls in ${secs.toFixed(2)} s (${(done / secs).toFixed(0)} calls/s, 32 in flight)`,
  )
  console.log(`  round trips per call: ${((roundTrips - rt0) / done).toFixed(2)} (${top.join(' ')})`)
  console.log(
    `  bytes per call: client→redis ${per('total_net_input_bytes').toFixed(0)}, redis→client ${per('total_net_output_bytes').toFixed(0)}`,
  )

  // --- Memory per active (answered) dialog: call hash + two leg indexes.
  await admin.flushall()
  const m0 = Number((await info('memory')).used_memory)
  let created = 0
  const fill = async (w: number) => {
    for (let i = w; i < DIALOGS && Date.now() < DEADLINE; i += 32) {
      const c = await store.createCall(testCall(`d${i}`))
      await store.updateCall(answered(c))
      created++
    }
  }
  await Promise.all(Array.from({ length: 32 }, (_, w) => fill(w)))
  const m1 = Number((await info('memory')).used_memory)
  const sample = testCall('d1')
  const usage = await Promise.all([
    admin.memory('USAGE', 'sbc:{c:d1}'),
    admin.memory('USAGE', `sbc:x:{${sample.a.callId}}:r:${sample.a.remoteTag}`),
    admin.memory('USAGE', `sbc:x:{${sample.b.callId}}:l:${sample.b.localTag}`),
  ])
  const json = (await admin.hget('sbc:{c:d1}', 's')) ?? ''
  console.log(
    `memory: ${created} answered dialogs, INFO used_memory delta ${((m1 - m0) / created).toFixed(0)} B per dialog`,
  )
  console.log(
    `  MEMORY USAGE call=${usage[0]} indexA=${usage[1]} indexB=${usage[2]} total=${usage.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)} B; state JSON ${json.length} B`,
  )

  // --- Admission holds: each active call holds a slot in its source and destination group.
  const h0 = Number((await info('memory')).used_memory)
  let held = 0
  const hold = async (w: number) => {
    for (let i = w; i < DIALOGS && Date.now() < DEADLINE; i += 32) {
      await store.tryAcquireCall('webex', `d${i}`, DIALOGS, 3600_000)
      await store.tryAcquireCall('pbx', `d${i}`, DIALOGS, 3600_000)
      held++
    }
  }
  await Promise.all(Array.from({ length: 32 }, (_, w) => hold(w)))
  const h1 = Number((await info('memory')).used_memory)
  console.log(`admission holds: ${held} calls × 2 groups, ${((h1 - h0) / held).toFixed(0)} B per call`)

  // --- Fail fast: how long a rejected operation takes with Redis down and with Redis stalled.
  const timed = async (n: number) => {
    let worst = 0
    let rejected = 0
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      await store.getCall('d1').catch((e: { code?: string }) => {
        if (e.code === 'SBC_ERR_STATE_UNAVAILABLE') rejected++
      })
      worst = Math.max(worst, performance.now() - t)
    }
    return `${rejected}/${n} rejected with SBC_ERR_STATE_UNAVAILABLE, slowest ${worst.toFixed(1)} ms`
  }
  const fast = new RedisStore({ url: redis.url })
  await fast.connected()
  process.kill(redis.pid(), 'SIGSTOP')
  const stalled = await (async () => {
    let worst = 0
    for (let i = 0; i < 5; i++) {
      const t = performance.now()
      await fast.getCall('d1').catch(() => {})
      worst = Math.max(worst, performance.now() - t)
    }
    return worst
  })()
  process.kill(redis.pid(), 'SIGCONT')
  await fast.close()
  console.log(`redis stalled (SIGSTOP), default command timeout: slowest rejection ${stalled.toFixed(1)} ms`)
  await redis.stop()
  console.log(`redis down: ${await timed(1000)}`)
} finally {
  await store.close()
  admin.disconnect()
  await redis.close()
}
