import assert from 'node:assert/strict'
import { type RateVerdict, type SharedBans, SourceRateLimiter } from './source-rate-limit.ts'

/** Shared bans in a map, with an injected clock, and every call recorded. */
class MapBans implements SharedBans {
  readonly bans = new Map<string, number>()
  lookups = 0
  fail = false
  readonly now: () => number
  constructor(now: () => number) {
    this.now = now
  }
  async ban(address: string, ms: number): Promise<void> {
    if (this.fail) throw new Error('down')
    this.bans.set(address, this.now() + ms)
  }
  async remaining(address: string): Promise<number> {
    this.lookups++
    if (this.fail) throw new Error('down')
    return Math.max(0, (this.bans.get(address) ?? 0) - this.now())
  }
}

const sync = (v: RateVerdict | Promise<RateVerdict>): RateVerdict => {
  assert.equal(typeof v, 'string', 'verdict is synchronous')
  return v as RateVerdict
}

describe('SourceRateLimiter (token bucket per source address)', () => {
  let t = 0
  const now = () => t
  beforeEach(() => {
    t = 1_000_000
  })

  it('passes a burst, limits beyond it, refills at the rate', () => {
    const l = new SourceRateLimiter({ now })
    const s = { requestsPerSecond: 2, burst: 3, banSeconds: 0 }
    const first = Array.from({ length: 5 }, () => sync(l.check('192.0.2.1', s, false)))
    assert.deepEqual(first, ['pass', 'pass', 'pass', 'limited', 'limited'])
    t += 499
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'limited', 'less than one token after 499 ms at 2/s')
    t += 1
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'pass', 'one token after 500 ms')
    t += 60_000
    const refilled = Array.from({ length: 4 }, () => sync(l.check('192.0.2.1', s, false)))
    assert.deepEqual(refilled, ['pass', 'pass', 'pass', 'limited'], 'the bucket holds at most burst tokens')
  })

  it('keeps sources apart and never limits in-dialog requests', () => {
    const l = new SourceRateLimiter({ now })
    const s = { requestsPerSecond: 1, burst: 1, banSeconds: 0 }
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'pass')
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'limited')
    assert.equal(sync(l.check('192.0.2.2', s, false)), 'pass', 'another source has its own bucket')
    for (let i = 0; i < 10; i++) assert.equal(sync(l.check('192.0.2.1', s, true)), 'pass')
  })

  it('bans a source over the limit for banSeconds: every request, in-dialog too, until expiry', () => {
    const l = new SourceRateLimiter({ now })
    const s = { requestsPerSecond: 1, burst: 1, banSeconds: 10 }
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'pass')
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'limited')
    t += 5_000
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'banned', 'banned although the bucket refilled')
    assert.equal(sync(l.check('192.0.2.1', s, true)), 'banned')
    t += 5_000
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'pass', 'the ban has expired')
  })

  it('writes bans to the shared list and honours bans another process wrote, from the first request', async () => {
    const shared = new MapBans(now)
    const a = new SourceRateLimiter({ now, shared })
    const b = new SourceRateLimiter({ now, shared })
    const s = { requestsPerSecond: 1, burst: 1, banSeconds: 30 }
    assert.equal(await a.check('192.0.2.1', s, false), 'pass', 'a new source waits for its lookup')
    assert.equal(sync(a.check('192.0.2.1', s, false)), 'limited')
    await Promise.resolve()
    assert.equal(shared.bans.get('192.0.2.1'), t + 30_000)
    assert.equal(await b.check('192.0.2.1', s, false), 'banned', "B drops A's banned source at once")
    assert.equal(await b.check('192.0.2.9', s, false), 'pass')
    // A source B already knows: the ban another process imposes is seen at the next recheck.
    assert.equal(sync(b.check('192.0.2.9', s, false)), 'limited')
    shared.bans.set('192.0.2.9', t + 30_000)
    const c = new SourceRateLimiter({ now, shared, recheckMs: 1000 })
    assert.equal(await c.check('192.0.2.7', { ...s, burst: 100 }, false), 'pass')
    shared.bans.set('192.0.2.7', t + 30_000)
    assert.equal(sync(c.check('192.0.2.7', { ...s, burst: 100 }, false)), 'pass', 'no recheck within 1 s')
    t += 1000
    assert.equal(
      sync(c.check('192.0.2.7', { ...s, burst: 100 }, false)),
      'pass',
      'recheck runs in the background',
    )
    await new Promise((r) => setImmediate(r))
    assert.equal(sync(c.check('192.0.2.7', { ...s, burst: 100 }, false)), 'banned')
  })

  it('holds every request of a new source while its first lookup is in flight', async () => {
    const shared = new MapBans(now)
    shared.bans.set('192.0.2.1', t + 30_000)
    const l = new SourceRateLimiter({ now, shared })
    const s = { requestsPerSecond: 1, burst: 10, banSeconds: 30 }
    const verdicts = await Promise.all([1, 2, 3].map(() => l.check('192.0.2.1', s, false)))
    assert.deepEqual(verdicts, ['banned', 'banned', 'banned'])
    assert.equal(shared.lookups, 1, 'one lookup for the three')
  })

  it('decides a new source without its lookup when the shared list does not answer (Redis stalled), and applies the answer once it comes', async () => {
    // A lookup that has not answered: with Redis stalled it takes the store's whole deadline, and
    // the INVITE waiting on it needs the store once more before its 503.
    let answer: (ms: number) => void = () => {}
    const stalled: SharedBans = {
      ban: async () => {},
      remaining: () => new Promise<number>((resolve) => (answer = resolve)),
    }
    const l = new SourceRateLimiter({ now, shared: stalled, firstLookupWaitMs: 1 })
    const s = { requestsPerSecond: 100, burst: 100, banSeconds: 10 }
    assert.equal(await l.check('192.0.2.1', s, false), 'pass')
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'pass', 'the next requests do not wait either')
    // Another pod had banned it: its later requests are dropped.
    answer(60_000)
    await new Promise((r) => setImmediate(r))
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'banned')
  })

  it('goes on with its local view when the shared list fails', async () => {
    const shared = new MapBans(now)
    shared.fail = true
    const errors: unknown[] = []
    const l = new SourceRateLimiter({ now, shared, onError: (e) => errors.push(e) })
    const s = { requestsPerSecond: 1, burst: 1, banSeconds: 10 }
    assert.equal(await l.check('192.0.2.1', s, false), 'pass')
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'limited')
    assert.equal(sync(l.check('192.0.2.1', s, false)), 'banned', 'banned locally all the same')
    await new Promise((r) => setImmediate(r))
    assert.equal(errors.length, 2, 'the failed lookup and the failed ban write are reported')
  })

  it('remembers at most maxSources sources and forgets idle ones', () => {
    const l = new SourceRateLimiter({ now, maxSources: 100 })
    const s = { requestsPerSecond: 10, burst: 1, banSeconds: 0 }
    for (let i = 0; i < 1000; i++) l.check(`10.0.${i >> 8}.${i & 255}`, s, false)
    assert.equal(l.size, 100, 'bounded by maxSources')
    // The most recently seen are kept: the last source is still limited.
    assert.equal(sync(l.check('10.0.3.231', s, false)), 'limited')
    // Once every bucket is full again, the periodic sweep forgets them all.
    t += 1000
    for (let i = 0; i < 1100; i++) l.check('192.0.2.1', s, false)
    assert.ok(l.size <= 2, `idle sources swept, ${l.size} left`)
  })
})
