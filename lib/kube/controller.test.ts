import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { Controller, type Reconciler } from './controller.ts'
import { ManualClock } from './manual-clock.ts'

/** Lets queued promise callbacks run until `cond` holds (bounded, so a bug fails instead of hanging). */
async function settle(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick()
  assert.ok(cond(), 'condition not reached')
}

describe('Controller', () => {
  let controller: Controller | undefined
  afterEach(async () => {
    await controller?.stop()
    controller = undefined
  })

  it('reconciles a key added many times once, and never the same key concurrently', async () => {
    const clock = new ManualClock()
    const calls: string[] = []
    let inFlight = 0
    let maxInFlight = 0
    let release: (() => void) | undefined
    const reconciler: Reconciler = {
      async reconcile(key) {
        calls.push(key)
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        if (key === 'ns/a' && calls.length === 1) await new Promise<void>((r) => (release = r))
        inFlight--
      },
    }
    controller = new Controller({ name: 't', reconciler, workers: 4, clock })
    controller.start()
    controller.queue.add('ns/a')
    await settle(() => release !== undefined)
    // events while ns/a is being reconciled: coalesced into one more run afterwards
    for (let i = 0; i < 5; i++) controller.queue.add('ns/a')
    await tick()
    assert.deepEqual(calls, ['ns/a'])
    release?.()
    await settle(() => calls.length === 2 && inFlight === 0)
    assert.deepEqual(calls, ['ns/a', 'ns/a'])
    assert.equal(maxInFlight, 1)
  })

  it('retries a failing key with growing backoff and forgets it after success', async () => {
    const clock = new ManualClock()
    let attempts = 0
    const reconciler: Reconciler = {
      async reconcile() {
        attempts++
        if (attempts <= 3) throw new Error('transient')
      },
    }
    controller = new Controller({ name: 't', reconciler, clock })
    controller.start()
    controller.queue.add('k')
    await settle(() => attempts === 1 && controller?.queue.delayedCount === 1)
    assert.equal(controller.queue.numRequeues('k'), 1)
    clock.advance(5)
    await settle(() => attempts === 2 && controller?.queue.delayedCount === 1)
    clock.advance(9)
    await tick()
    assert.equal(attempts, 2, 'second backoff is 10 ms')
    clock.advance(1)
    await settle(() => attempts === 3 && controller?.queue.delayedCount === 1)
    clock.advance(20)
    await settle(() => attempts === 4 && controller?.queue.processingCount === 0)
    assert.equal(controller.queue.numRequeues('k'), 0, 'forgotten after success')
    assert.equal(controller.queue.delayedCount, 0)
  })

  it('requeues after requeueAfterMs and reports metrics', async () => {
    const clock = new ManualClock()
    let runs = 0
    const results: string[] = []
    controller = new Controller({
      name: 't',
      clock,
      reconciler: {
        async reconcile() {
          runs++
          return runs === 1 ? { requeueAfterMs: 1000 } : undefined
        },
      },
      metrics: { reconciled: (r) => results.push(r) },
    })
    controller.start()
    controller.queue.add('k')
    await settle(() => runs === 1 && controller?.queue.delayedCount === 1)
    clock.advance(999)
    await tick()
    assert.equal(runs, 1)
    clock.advance(1)
    await settle(() => runs === 2)
    await settle(() => results.length === 2)
    assert.deepEqual(results, ['requeue_after', 'success'])
  })

  it('stop lets the in-flight reconcile finish and takes no new keys', async () => {
    let finished = false
    let release: (() => void) | undefined
    const c = new Controller({
      name: 't',
      clock: new ManualClock(),
      reconciler: {
        async reconcile() {
          await new Promise<void>((r) => (release = r))
          finished = true
        },
      },
    })
    c.start()
    c.queue.add('a')
    await settle(() => release !== undefined)
    const stopped = c.stop()
    c.queue.add('b')
    release?.()
    await stopped
    assert.equal(finished, true)
    assert.equal(c.queue.depth, 0)
  })
})
