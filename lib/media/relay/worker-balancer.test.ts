import assert from 'node:assert/strict'
import { WorkerBalancer } from './worker-balancer.ts'

describe('WorkerBalancer (load-following placement of calls on relay workers)', () => {
  it('fills the first worker up to the spill rate, then spreads new calls over the workers the load needs', () => {
    const b = new WorkerBalancer(3, { spillPps: 1000, callPps: 100 })
    const placed = Array.from({ length: 14 }, () => b.place(0))
    // 10 calls × 100 pps fit worker 0; the 11th makes 1,100 > 1,000: two workers, the least loaded first.
    assert.deepEqual(placed.slice(0, 10), new Array(10).fill(0))
    assert.deepEqual(placed.slice(10), [1, 1, 1, 1])
    assert.equal(b.active, 2)
  })

  it('hands calls back when the measured load fits fewer workers, once new calls are past their grace', () => {
    const b = new WorkerBalancer(2, { spillPps: 1000, callPps: 100, graceMs: 2000 })
    for (let i = 0; i < 16; i++) b.place(0)
    assert.equal(b.active, 2)
    assert.deepEqual(b.sample(0, [0, 0]), [], 'the first sample only sets the baseline')
    // 1 s later: 400 + 300 pps measured, but the 16 new calls still count at 100 each: nothing moves.
    assert.deepEqual(b.sample(1000, [400, 300]), [])
    assert.equal(b.active, 2)
    // Past the grace: 700 pps < 0.75 × 1,000 fits one worker: worker 1 hands everything to worker 0.
    assert.deepEqual(b.sample(3000, [1200, 900]), [
      { from: 1, to: 0, pairs: Number.MAX_SAFE_INTEGER, activeOnly: false },
    ])
    assert.equal(b.active, 1)
    assert.equal(b.place(3000), 0, 'new calls go to the one active worker')
  })

  it('keeps the workers a load needs (hysteresis) and evens them out by moving pairs that carry media', () => {
    const b = new WorkerBalancer(2, { spillPps: 1000, callPps: 100, graceMs: 0, pairPps: 50 })
    b.sample(0, [0, 0])
    // 1,600 pps on worker 0 alone: two workers needed; worker 0 is 800 above the average of 800.
    assert.deepEqual(b.sample(1000, [1600, 0]), [{ from: 0, to: 1, pairs: 16, activeOnly: true }])
    assert.equal(b.active, 2)
    // Even enough (within a quarter of the average): no move.
    assert.deepEqual(b.sample(2000, [2500, 700]), [])
    // 800 pps in all is above 0.75 × 1,000: still two workers (no flapping around 1,000).
    assert.deepEqual(b.sample(3000, [2900, 1100]), [])
    assert.equal(b.active, 2)
  })

  it('does not swing pairs back and forth when a pair carries more than it assumes', () => {
    // Pairs of 200 packets/s (RTP both ways every 10 ms) against the assumed 75: moving "the excess"
    // overshoots. A model of the relay applies each move to whole pairs, as relayMove does.
    const b = new WorkerBalancer(2, { spillPps: 1000, graceMs: 0 })
    const pairs = [8, 0]
    const total = [0, 0]
    const moves: string[] = []
    for (let t = 0; t <= 10_000; t += 500) {
      for (const m of b.sample(t, total)) {
        const n = Math.min(m.pairs, pairs[m.from] as number)
        pairs[m.from] = (pairs[m.from] as number) - n
        pairs[m.to] = (pairs[m.to] as number) + n
        moves.push(`${t}: ${n} ${m.from}->${m.to}`)
      }
      for (const w of [0, 1]) total[w] = (total[w] as number) + (pairs[w] as number) * 200 * 0.5
    }
    // Before: all 8 pairs from worker 0 to 1 and back every 500 ms, 20 moves.
    assert.ok(moves.length <= 3, `moves: ${moves.join(', ')}`)
    assert.ok((pairs[0] as number) > 0 && (pairs[1] as number) > 0, `pairs per worker: ${pairs}`)
  })

  it('hands back calls without media too: a worker beyond the load holds no calls', () => {
    const b = new WorkerBalancer(2, { spillPps: 1000, callPps: 100, graceMs: 500 })
    for (let i = 0; i < 11; i++) b.place(0)
    assert.equal(b.active, 2)
    b.sample(0, [0, 0], [40, 4])
    // 300 packets/s, all on worker 0: one worker. Worker 1's call is on hold (no packets), still 4 legs.
    assert.deepEqual(b.sample(1000, [300, 0], [40, 4]), [
      { from: 1, to: 0, pairs: Number.MAX_SAFE_INTEGER, activeOnly: false },
    ])
    // Once it holds nothing, nothing more moves.
    assert.deepEqual(b.sample(2000, [600, 0], [44, 0]), [])
  })

  it('refuses a configuration it cannot work with', () => {
    assert.throws(() => new WorkerBalancer(0, { spillPps: 1000 }), RangeError)
    assert.throws(() => new WorkerBalancer(2, { spillPps: 0 }), RangeError)
  })
})
