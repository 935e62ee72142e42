import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, startSentinel, type TestRedis } from '../../test/harness/redis.ts'
import { decodeDialogState } from './compact-codec.ts'
import { dialogStoreContract } from './dialog-store.contract.ts'
import type { CommandObservation, RedisStoreOptions } from './redis-store.ts'
import { RedisStore } from './redis-store.ts'
import { answered, testCall } from './test-call.ts'

describe('RedisStore (real redis-server)', () => {
  let redis: TestRedis
  let admin: Redis
  const opened: RedisStore[] = []

  /** A store on the test server; a generous command timeout so a loaded CI box does not flake. */
  async function open(options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
    const s = new RedisStore({ url: redis.url, commandTimeoutMs: 5000, ...options })
    opened.push(s)
    await s.connected()
    return s
  }

  /** Every key in Redis with its PTTL; -1 means no TTL, which must never happen. */
  async function keysWithoutTtl(): Promise<string[]> {
    const keys = await admin.keys('*')
    const ttls = await Promise.all(keys.map((k) => admin.pttl(k)))
    return keys.filter((_, i) => (ttls[i] ?? -1) < 0)
  }

  before(async () => {
    redis = await startRedis()
    admin = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
    admin.on('error', () => {})
    await admin.connect()
  })
  after(async () => {
    admin.disconnect()
    await redis.close()
  })
  beforeEach(async () => {
    await admin.flushall()
  })
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
  })

  describe('contract', () => {
    dialogStoreContract({
      make: (ttl) => open(ttl ? { ttl } : {}),
      peer: () => open(),
      advance: (ms) => sleep(ms),
    })
  })

  it('stores the call and its two leg indexes in Redis, each with the TTL of the session', async () => {
    const s = await open()
    const c = testCall('k1')
    await s.createCall(c)
    assert.deepEqual(decodeDialogState((await admin.hget('sbc:{c:k1}', 's')) ?? ''), { ...c, version: 1 })
    assert.equal(await admin.hget('sbc:{c:k1}', 'v'), '1')
    assert.equal(await admin.get(`sbc:x:{${c.a.callId}}:r:${c.a.remoteTag}`), 'k1')
    assert.equal(await admin.get(`sbc:x:{${c.b.callId}}:l:${c.b.localTag}`), 'k1')
    const early = await admin.pttl('sbc:{c:k1}')
    assert.ok(early > 0 && early <= 200_000, `early TTL ${early}`)
    await s.updateCall(answered({ ...c, version: 1 }))
    const confirmed = await admin.pttl('sbc:{c:k1}')
    // Session-Expires 1800 s + 32 s grace.
    assert.ok(confirmed > 200_000 && confirmed <= 1_832_000, `confirmed TTL ${confirmed}`)
    assert.ok((await admin.pttl(`sbc:x:{${c.b.callId}}:l:${c.b.localTag}`)) > 200_000)
    await s.deleteCall('k1')
    assert.deepEqual(await admin.keys('*'), [])
  })

  it('stores non-ASCII text in the state and the keys byte-exact (UTF-8 lengths in the script frame)', async () => {
    const s = await open()
    // A first call loads the scripts: on a fresh server each first EVALSHA falls back to EVAL.
    const first = await s.createCall(testCall('w1'))
    await s.findByLeg({ callId: first.a.callId, remoteTag: first.a.remoteTag })
    await s.deleteCall('w1', await s.updateCall(answered(first)))
    // 2-, 3- and 4-octet characters in the state, and a leg key longer than 64 characters with one.
    const c = testCall('u1', { aCallId: `${'a'.repeat(70)}ü@10.20.30.40` })
    c.cdr = { caller: 'Jürgen €', callee: '𝄞 Müller' }
    await s.createCall(c)
    assert.deepEqual(decodeDialogState((await admin.hget('sbc:{c:u1}', 's')) ?? ''), { ...c, version: 1 })
    const found = await s.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag })
    assert.deepEqual(found?.call, { ...c, version: 1 })
    const done = await s.updateCall(answered({ ...c, version: 1 }))
    assert.equal((await s.getCall('u1'))?.cdr?.callee, '𝄞 Müller')
    assert.equal(await s.deleteCall('u1', done), true)
    assert.deepEqual(await admin.keys('*'), [])
  })

  it('sends a script again with EVAL when Redis forgot it (NOSCRIPT), observed once; other error replies are not retried', async () => {
    const seen: CommandObservation[] = []
    const s = await open({ observer: (o) => seen.push(o) })
    await s.createCall(testCall('ns1'))
    // A restarted or replaced Redis knows no scripts.
    await admin.script('FLUSH')
    const found = await s.findByLeg({
      callId: testCall('ns1').a.callId,
      remoteTag: testCall('ns1').a.remoteTag,
    })
    assert.equal(found?.call.id, 'ns1')
    assert.deepEqual(
      seen.map((o) => [o.command, o.ok]),
      [
        ['sbcCreateCall', true],
        ['sbcFindByLeg', true],
      ],
    )
    // An error reply of the script itself (the call key is not a hash) is a corrupt state, at once.
    await admin.set('sbc:{c:ns2}', 'not a hash')
    await assert.rejects(s.updateCall(answered({ ...testCall('ns2'), version: 1 })), {
      code: 'SBC_ERR_STATE_CORRUPT',
      message: /WRONGTYPE/,
    })
    assert.deepEqual(seen.at(-1)?.error, 'SBC_ERR_STATE_CORRUPT')
    await admin.del('sbc:{c:ns2}')
    await s.deleteCall('ns1')
  })

  it('reports a corrupt record with SBC_ERR_STATE_CORRUPT and can still delete it', async () => {
    const s = await open()
    const c = testCall('bad1')
    await s.createCall(c)
    await admin.hset('sbc:{c:bad1}', 's', '[1,["bad1"]]')
    await assert.rejects(s.getCall('bad1'), { code: 'SBC_ERR_STATE_CORRUPT' })
    await assert.rejects(s.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }), {
      code: 'SBC_ERR_STATE_CORRUPT',
    })
    assert.equal(await s.deleteCall('bad1'), true)
    assert.equal(await admin.exists('sbc:{c:bad1}'), 0)
    assert.equal(await s.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }), undefined)
  })

  it('ends a call for a BYE in one script call: call, both indexes and listed holds gone; restore puts it back for 64·T1', async () => {
    const seen: CommandObservation[] = []
    // A prefix of our own: the script builds the other index and the holds keys from its parts.
    const s = await open({ keyPrefix: 'p@x', observer: (o) => seen.push(o) })
    const c = answered({ ...testCall('e1'), version: 1 })
    await s.createCall({ ...c, version: 0 })
    await s.tryAcquireCall('webex', 'e1', 10, 60_000)
    await s.tryAcquireCall('pbx', 'e1', 10, 60_000)
    await s.tryAcquireCall('pbx', 'e2', 10, 60_000)
    seen.length = 0
    const ended = await s.endByLeg({ callId: c.b.callId, localTag: c.b.localTag, remoteTag: 'as5f2a1c7d' }, 1)
    assert.equal(ended?.ended, true)
    assert.deepEqual(
      seen.map((o) => [o.command, o.ok]),
      [['sbcEndByLeg', true]],
    )
    assert.deepEqual((await admin.keys('*')).sort(), ['p@x:{g:pbx}:calls'])
    assert.deepEqual(await admin.zrange('p@x:{g:pbx}:calls', 0, -1), ['e2'])
    const restored = await s.restoreCall({ ...ended!.call, admission: { ...c.admission, counters: [] } })
    assert.equal(restored.version, 2)
    assert.deepEqual(await keysWithoutTtl(), [])
    assert.deepEqual((await admin.keys('*')).sort(), [
      'p@x:x:{b-e1}:l:sbce1b',
      `p@x:x:{${c.a.callId}}:r:${c.a.remoteTag}`,
      'p@x:{c:e1}',
      'p@x:{g:pbx}:calls',
    ])
    assert.equal(await admin.hget('p@x:{c:e1}', 'v'), '2')
    // The terminated call's TTL (64·T1), not the answered call's (Session-Expires + 32 s), on all three.
    for (const k of ['p@x:{c:e1}', 'p@x:x:{b-e1}:l:sbce1b', `p@x:x:{${c.a.callId}}:r:${c.a.remoteTag}`]) {
      const ttl = await admin.pttl(k)
      assert.ok(ttl > 0 && ttl <= 32_000, `${k} TTL ${ttl}`)
    }
  })

  it('ends nothing for a corrupt record: SBC_ERR_STATE_CORRUPT, every key left as it was', async () => {
    const s = await open()
    const c = testCall('bad2')
    await s.createCall(c)
    await s.tryAcquireCall('webex', 'bad2', 10, 60_000)
    const before = (await admin.keys('*')).sort()
    for (const text of ['[1,["bad2"]]', '{"x":1}', 'not json', '[2,[]]']) {
      await admin.hset('sbc:{c:bad2}', 's', text)
      await assert.rejects(s.endByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }, 200), {
        code: 'SBC_ERR_STATE_CORRUPT',
      })
      assert.deepEqual((await admin.keys('*')).sort(), before, text)
    }
    assert.equal(await admin.zcard('sbc:{g:webex}:calls'), 1)
  })

  it('leaves no key without a TTL after any operation', async () => {
    const s = await open()
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['createCall', () => s.createCall(testCall('t1'))],
      ['updateCall', async () => s.updateCall(answered((await s.getCall('t1'))!))],
      ['refreshCall', () => s.refreshCall('t1')],
      ['tryAcquireCall', () => s.tryAcquireCall('webex', 't1', 10, 60_000)],
      ['releaseCall', () => s.releaseCall('webex', 't1')],
      ['tryAcquireCall again', () => s.tryAcquireCall('webex', 't2', 10, 60_000)],
      ['tryRate', () => s.tryRate('webex', 10, 20)],
      [
        'registerMediaPod',
        () =>
          s.registerMediaPod(
            { id: 'm1', address: '10.0.0.1:2223', realms: ['wan'], capacity: 9, active: 0 },
            30_000,
          ),
      ],
      ['acquireLease', () => s.acquireLease('reg:webex', 'pod-a', 30_000)],
      ['renewLease', () => s.renewLease('reg:webex', 'pod-a', 30_000)],
      ['setProxyHealth', () => s.setProxyHealth('10.1.1.1:5060', true, 30_000)],
      [
        'cancelUnstored',
        () =>
          s.cancelUnstored({ callId: 'k-call', remoteTag: 'k-tag' }, { branch: 'z9hG4bKk', cseq: 1 }, 30_000),
      ],
    ]
    for (const [name, step] of steps) {
      await step()
      assert.deepEqual(await keysWithoutTtl(), [], `after ${name}`)
    }
    const c = testCall('t1')
    assert.deepEqual(
      (await admin.keys('*')).sort(),
      [
        'sbc:x:{b-t1}:l:sbct1b',
        `sbc:x:{${c.a.callId}}:r:${c.a.remoteTag}`,
        'sbc:{c:t1}',
        'sbc:{g:webex}:calls',
        'sbc:{g:webex}:rate',
        'sbc:{h}:proxies',
        'sbc:{h}:proxies:exp',
        'sbc:{l:reg:webex}',
        'sbc:{m}:pods',
        'sbc:{m}:pods:exp',
        'sbc:x:{k-call}:k:k-tag',
      ].sort(),
    )
    assert.deepEqual(await admin.zrange('sbc:{g:webex}:calls', 0, -1), ['t2'])
    assert.equal(await admin.get('sbc:x:{k-call}:k:k-tag'), '1 z9hG4bKk')
  })

  it('does not leak a counter slot when its holder dies', async () => {
    const dying = await open()
    // 1 s: the survivor's connection and refused acquire must fit in the hold on a loaded machine.
    await dying.tryAcquireCall('pbx', 'd1', 1, 1000)
    await dying.close()
    const survivor = await open()
    assert.equal((await survivor.tryAcquireCall('pbx', 's1', 1, 60_000)).granted, false)
    assert.equal(await admin.zcard('sbc:{g:pbx}:calls'), 1)
    await sleep(1100)
    assert.deepEqual(await survivor.tryAcquireCall('pbx', 's1', 1, 60_000), { granted: true, active: 1 })
    assert.deepEqual(await admin.zrange('sbc:{g:pbx}:calls', 0, -1), ['s1'])
  })

  it('never exceeds the limit under concurrent acquisition from two pods (250 of 300)', async () => {
    const [p1, p2] = [await open(), await open()]
    const attempts = Array.from({ length: 300 }, (_, i) =>
      (i % 2 ? p1 : p2).tryAcquireCall('twilio', `call-${i}`, 250, 60_000),
    )
    const results = await Promise.all(attempts)
    assert.equal(results.filter((r) => r.granted).length, 250)
    assert.equal(await admin.zcard('sbc:{g:twilio}:calls'), 250)
  })

  it('fails fast with SBC_ERR_STATE_UNAVAILABLE while Redis is down and recovers by itself', async () => {
    const seen: CommandObservation[] = []
    const health: string[] = []
    const s = await open({
      commandTimeoutMs: 100,
      observer: (o) => seen.push(o),
      onHealth: (h) => health.push(h),
    })
    await s.createCall(testCall('o1'))
    await redis.stop()
    try {
      await assert.rejects(s.createCall(testCall('o2')), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
      await assert.rejects(s.getCall('o1'), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
      await assert.rejects(s.tryAcquireCall('webex', 'o2', 10, 1000), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
      assert.equal(s.health(), 'unavailable')
    } finally {
      await redis.start()
    }
    await s.connected(10_000)
    // The restarted server is empty (no persistence) and the scripts are gone: EVALSHA falls back.
    await s.createCall(testCall('o2'))
    assert.equal(await admin.hget('sbc:{c:o2}', 'v'), '1')
    assert.equal(s.health(), 'ready')
    assert.deepEqual(health, ['ready', 'unavailable', 'ready'])
    assert.ok(seen.some((o) => !o.ok && o.error === 'SBC_ERR_STATE_UNAVAILABLE'))
    assert.ok(seen.some((o) => o.ok && o.command === 'sbcCreateCall'))
  })

  it('keeps a reply that arrived while the event loop was blocked past the command timeout', async () => {
    const s = await open({ commandTimeoutMs: 80 })
    // Loads the scripts, so each command below is one round trip.
    await s.createCall(testCall('st1'))
    const read = s.getCall('st1')
    const write = s.createCall(testCall('st2'))
    // The commands are on the wire; Redis answers them while this process is busy (a GC pause, a
    // burst). Both timers expire during the stall and fire before the replies are read: a bare
    // timer (ioredis's commandTimeout) rejected both here.
    const end = performance.now() + 200
    while (performance.now() < end) {
      // busy: the event loop is blocked
    }
    assert.equal((await read)?.id, 'st1')
    assert.equal((await write).version, 1)
    assert.equal(await admin.hget('sbc:{c:st2}', 'v'), '1')
  })

  it('times out direct commands on the connection (bounded) when Redis stalls', async () => {
    const s = await open({ commandTimeoutMs: 80 })
    process.kill(redis.pid(), 'SIGSTOP')
    try {
      await assert.rejects(s.bounded('pttl', s.client.pttl('sbc:{b:x}')), {
        code: 'SBC_ERR_STATE_UNAVAILABLE',
      })
      await assert.rejects(s.getCall('x2'), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
    } finally {
      process.kill(redis.pid(), 'SIGCONT')
    }
    await s.connected(10_000)
    assert.equal(await s.bounded('pttl', s.client.pttl('sbc:{b:x}')), -2)
  })

  it('gives each command sent into a stall its own deadline (one timer for the connection)', async () => {
    const s = await open({ commandTimeoutMs: 300 })
    await s.createCall(testCall('q1'))
    process.kill(redis.pid(), 'SIGSTOP')
    try {
      const first = s.getCall('q1')
      await sleep(200)
      let secondSettled = false
      const second = s.getCall('q1').finally(() => {
        secondSettled = true
      })
      await assert.rejects(first, { code: 'SBC_ERR_STATE_UNAVAILABLE' })
      // Sent 200 ms later, its deadline was not due with the first one's.
      assert.equal(secondSettled, false)
      await assert.rejects(second, { code: 'SBC_ERR_STATE_UNAVAILABLE' })
    } finally {
      process.kill(redis.pid(), 'SIGCONT')
    }
    await s.connected(10_000)
    assert.equal((await s.getCall('q1'))?.id, 'q1')
  })

  it('times out with SBC_ERR_STATE_UNAVAILABLE when Redis stalls, and reports each round trip to the observer', async () => {
    const seen: CommandObservation[] = []
    const s = await open({ commandTimeoutMs: 100, observer: (o) => seen.push(o) })
    process.kill(redis.pid(), 'SIGSTOP')
    try {
      await assert.rejects(s.getCall('x1'), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
      assert.deepEqual(
        seen.map((o) => [o.command, o.ok, o.error]),
        [['hget', false, 'SBC_ERR_STATE_UNAVAILABLE']],
      )
    } finally {
      process.kill(redis.pid(), 'SIGCONT')
    }
    await s.connected(10_000)
    assert.equal(await s.getCall('x1'), undefined)
    assert.deepEqual(seen.at(-1)?.ok, true)
  })

  it('fails a round trip whose observer throws, typed, as before', async () => {
    let calls = 0
    const s = await open({
      observer: () => {
        calls++
        if (calls === 1) throw new Error('observer broke')
      },
    })
    await assert.rejects(s.getCall('obs1'), { code: 'SBC_ERR_STATE_UNAVAILABLE', message: /observer broke/ })
    assert.equal(calls, 2)
    assert.equal(await s.getCall('obs1'), undefined)
  })

  it('a BYE whose endByLeg timed out (Redis stalled) finds its call again when Redis runs the script late', async () => {
    const s = await open({ commandTimeoutMs: 100 })
    const c = answered({ ...testCall('late1'), version: 1 })
    await s.createCall({ ...c, version: 0 })
    const key = { callId: c.a.callId, remoteTag: c.a.remoteTag }
    // The BYE's script is written to the connection; Redis reads it only after the deadline.
    process.kill(redis.pid(), 'SIGSTOP')
    try {
      await assert.rejects(s.endByLeg(key, 102), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
    } finally {
      process.kill(redis.pid(), 'SIGCONT')
    }
    await s.connected(10_000)
    // The caller heard 503 for that BYE and may send it again: the call must still be there for it
    // (the late script's removal undone), not gone without a relayed BYE, a CDR or a media release.
    let found = await s.findByLeg(key)
    for (let i = 0; i < 50 && found === undefined; i++) {
      await sleep(100)
      found = await s.findByLeg(key)
    }
    assert.equal(found?.call.id, 'late1', 'the call is stored again')
    assert.deepEqual(await keysWithoutTtl(), [])
    const retried = await s.endByLeg(key, 103)
    assert.equal(retried?.ended, true)
    assert.deepEqual(await admin.keys('*'), [])
  })

  it('an observer that always throws: every round trip still settles, typed (no uncaught error, no hang)', async () => {
    const s = await open({
      commandTimeoutMs: 100,
      observer: () => {
        throw new Error('observer broke')
      },
    })
    // A reply: the observer throws for it, then again for the failure it turned into.
    await assert.rejects(s.getCall('obs2'), { code: 'SBC_ERR_STATE_UNAVAILABLE', message: /observer broke/ })
    // No reply in time: the deadline's verdict reaches the caller although the observer throws.
    process.kill(redis.pid(), 'SIGSTOP')
    try {
      await assert.rejects(s.getCall('obs3'), {
        code: 'SBC_ERR_STATE_UNAVAILABLE',
        message: /no reply within/,
      })
    } finally {
      process.kill(redis.pid(), 'SIGCONT')
    }
    await s.connected(10_000)
  })

  it('reports a read-only replica (a master demoted by a Sentinel failover) as unavailable, not as corrupt state', async () => {
    const s = await open()
    await s.createCall(testCall('ro1'))
    // A replica of a master that is not there: it still serves reads, and refuses every write.
    await admin.replicaof('127.0.0.1', String(await freePort()))
    try {
      // The B2BUA answers StateUnavailableError with 503 and Retry-After; CorruptStateError with 500.
      await assert.rejects(s.createCall(testCall('ro2')), {
        code: 'SBC_ERR_STATE_UNAVAILABLE',
        message: /READONLY/,
      })
      await assert.rejects(s.tryAcquireCall('g', 'ro2', 10, 60_000), { code: 'SBC_ERR_STATE_UNAVAILABLE' })
      assert.equal((await s.getCall('ro1'))?.id, 'ro1', 'reads still work')
    } finally {
      await admin.replicaof('NO', 'ONE')
    }
    assert.equal((await s.createCall(testCall('ro2'))).id, 'ro2')
  })

  it('connects through Sentinel with a redis-sentinel:// URL', async () => {
    const sentinel = await startSentinel(redis.port)
    try {
      const s = await open({ url: `redis-sentinel://127.0.0.1:${sentinel.port}/${sentinel.name}` })
      await s.createCall(testCall('sen1'))
      assert.equal(await admin.hget('sbc:{c:sen1}', 'v'), '1')
    } finally {
      for (const s of opened.splice(0)) await s.close()
      await sentinel.close()
    }
  })
})
