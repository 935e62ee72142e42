import assert from 'node:assert/strict'
import { ManualClock } from './manual-clock.ts'
import { WorkQueue } from './work-queue.ts'

/** Takes the next key, failing if the queue reports shutdown. */
async function take(q: WorkQueue<string>): Promise<string> {
  const r = await q.get()
  assert.equal(r.shutdown, false)
  return r.shutdown ? '' : r.item
}

describe('WorkQueue', () => {
  it('hands out keys in FIFO order', async () => {
    const q = new WorkQueue<string>({ clock: new ManualClock() })
    q.add('a')
    q.add('b')
    q.add('c')
    assert.deepEqual([await take(q), await take(q), await take(q)], ['a', 'b', 'c'])
  })

  it('coalesces a key added many times into one item', async () => {
    const q = new WorkQueue<string>({ clock: new ManualClock() })
    for (let i = 0; i < 5; i++) q.add('ns/x')
    q.add('ns/y')
    assert.equal(q.depth, 2)
    assert.equal(await take(q), 'ns/x')
    assert.equal(await take(q), 'ns/y')
    assert.equal(q.depth, 0)
  })

  it('never hands a key to two workers at once and re-queues it after done', async () => {
    const q = new WorkQueue<string>({ clock: new ManualClock() })
    q.add('k')
    assert.equal(await take(q), 'k')
    q.add('k') // an event arrives while a worker holds the key
    q.add('k')
    assert.equal(q.depth, 0, 'not queued while processing')
    assert.equal(q.processingCount, 1)
    q.done('k')
    assert.equal(q.depth, 1, 'queued exactly once after done')
    assert.equal(await take(q), 'k')
    q.done('k')
    assert.equal(q.depth, 0)
  })

  it('wakes a waiting worker when a key is added', async () => {
    const q = new WorkQueue<string>({ clock: new ManualClock() })
    const pending = q.get()
    q.add('late')
    const r = await pending
    assert.deepEqual(r, { item: 'late', shutdown: false })
  })

  it('backs off exponentially per key until forget', async () => {
    const clock = new ManualClock()
    const q = new WorkQueue<string>({ clock, baseDelayMs: 10, maxDelayMs: 50 })
    const delays: number[] = []
    for (let i = 0; i < 5; i++) {
      q.addRateLimited('k')
      let waited = 0
      while (q.depth === 0) {
        clock.advance(1)
        waited++
      }
      delays.push(waited)
      assert.equal(await take(q), 'k')
      q.done('k')
    }
    assert.deepEqual(delays, [10, 20, 40, 50, 50])
    assert.equal(q.numRequeues('k'), 5)
    q.forget('k')
    assert.equal(q.numRequeues('k'), 0)
    q.addRateLimited('k')
    clock.advance(9)
    assert.equal(q.depth, 0)
    clock.advance(1)
    assert.equal(q.depth, 1, 'backoff restarted at the base delay')
  })

  it('keeps backoff separate per key', () => {
    const clock = new ManualClock()
    const q = new WorkQueue<string>({ clock, baseDelayMs: 10 })
    q.addRateLimited('a')
    q.addRateLimited('a')
    q.addRateLimited('b')
    assert.equal(q.numRequeues('a'), 2)
    assert.equal(q.numRequeues('b'), 1)
  })

  it('addAfter holds a key back and keeps only the earliest pending time', async () => {
    const clock = new ManualClock()
    const q = new WorkQueue<string>({ clock })
    q.addAfter('k', 100)
    q.addAfter('k', 300) // later: ignored
    assert.equal(q.delayedCount, 1)
    clock.advance(99)
    assert.equal(q.depth, 0)
    clock.advance(1)
    assert.equal(q.depth, 1)
    assert.equal(await take(q), 'k')
    q.done('k')
    clock.advance(1000)
    assert.equal(q.depth, 0, 'the later timer was dropped')

    q.addAfter('j', 300)
    q.addAfter('j', 50) // earlier: replaces
    clock.advance(50)
    assert.equal(q.depth, 1)
    assert.equal(clock.pendingTimers, 0)
  })

  it('addAfter with a non-positive delay adds at once', () => {
    const q = new WorkQueue<string>({ clock: new ManualClock() })
    q.addAfter('k', 0)
    assert.equal(q.depth, 1)
  })

  it('a delayed key that is already queued is not queued twice', async () => {
    const clock = new ManualClock()
    const q = new WorkQueue<string>({ clock })
    q.add('k')
    q.addAfter('k', 10)
    clock.advance(10)
    assert.equal(q.depth, 1)
  })

  it('shutDown drains queued keys, then reports shutdown, and ignores new adds', async () => {
    const clock = new ManualClock()
    const q = new WorkQueue<string>({ clock })
    q.add('a')
    q.addAfter('b', 10)
    const idle = q.get() // consumes 'a'
    assert.deepEqual(await idle, { item: 'a', shutdown: false })
    const waiting = q.get()
    q.shutDown()
    assert.deepEqual(await waiting, { shutdown: true })
    assert.equal(clock.pendingTimers, 0, 'delayed keys are cancelled')
    q.add('c')
    assert.equal(q.depth, 0)
    q.done('a')
    assert.deepEqual(await q.get(), { shutdown: true })
  })

  it('shutDownWithDrain waits for keys in processing', async () => {
    const q = new WorkQueue<string>({ clock: new ManualClock() })
    q.add('a')
    await take(q)
    let drained = false
    const p = q.shutDownWithDrain().then(() => {
      drained = true
    })
    await Promise.resolve()
    assert.equal(drained, false)
    q.done('a')
    await p
    assert.equal(drained, true)
  })

  it('reports metrics', async () => {
    const clock = new ManualClock()
    const seen = {
      adds: 0,
      retries: 0,
      depths: [] as number[],
      latency: [] as number[],
      work: [] as number[],
    }
    const q = new WorkQueue<string>({
      clock,
      metrics: {
        add: () => seen.adds++,
        retry: () => seen.retries++,
        depth: (n) => seen.depths.push(n),
        queueLatency: (ms) => seen.latency.push(ms),
        workDuration: (ms) => seen.work.push(ms),
      },
    })
    q.add('a')
    q.add('a')
    clock.advance(7)
    await take(q)
    clock.advance(3)
    q.done('a')
    q.addRateLimited('a')
    assert.equal(seen.adds, 1)
    assert.equal(seen.retries, 1)
    assert.deepEqual(seen.depths, [1, 0])
    assert.deepEqual(seen.latency, [7])
    assert.deepEqual(seen.work, [3])
  })
})
