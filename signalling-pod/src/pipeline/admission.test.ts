import assert from 'node:assert/strict'
import type { SbcConfig } from '../../../lib/config/model.ts'
import { StateUnavailableError } from '../../../lib/state/errors.ts'
import { MemoryStore } from '../../../lib/state/memory-store.ts'
import { fillWebex, uclabConfig } from './fixtures.ts'
import { admit, CompiledPipeline, releaseAdmission } from './pipeline.ts'

const limited = (c: SbcConfig) => {
  c.groups.find((g) => g.name === 'twilio')!.callRateLimit = { callsPerSecond: 1, burst: 2 }
}

describe('admission step (MemoryStore)', () => {
  it('gives the 251st concurrent call on the 250-limit webex group a 503 with Retry-After', async () => {
    await fillWebex(new MemoryStore(), CompiledPipeline.from(uclabConfig()))
  })

  it('admits calls to a group without limits at once (a result, not a promise), without the store, holding nothing', () => {
    const store = new MemoryStore()
    store.tryAcquireCall = () => Promise.reject(new Error('must not be called'))
    store.tryRate = () => Promise.reject(new Error('must not be called'))
    assert.deepEqual(admit(store, CompiledPipeline.from(uclabConfig()), 'siptrunk', 'c'), {
      ok: true,
      held: false,
    })
  })

  it('throws for a group the compiled config does not have, at once', () => {
    assert.throws(
      () => admit(new MemoryStore(), CompiledPipeline.from(uclabConfig()), 'nosuch', 'c'),
      RangeError,
    )
  })

  it('refuses beyond the call rate with 503 and the bucket refill as Retry-After', async () => {
    const store = new MemoryStore({ now: () => 1_000_000 })
    const p = CompiledPipeline.from(uclabConfig(limited))
    const results = []
    for (const id of ['a', 'b', 'c']) results.push(await admit(store, p, 'twilio', id))
    assert.deepEqual(
      results.map((r) => (r.ok ? `ok held ${r.held}` : `${r.code} ${r.cause} ${r.retryAfterSeconds}`)),
      // A rate-only group takes a token, no slot: nothing to release when the call ends.
      ['ok held false', 'ok held false', '503 call-rate 1'],
    )
  })

  it('refuses with 503 when the store is unavailable', async () => {
    const store = new MemoryStore()
    store.tryAcquireCall = () => Promise.reject(new StateUnavailableError('down'))
    const r = await admit(store, CompiledPipeline.from(uclabConfig()), 'webex', 'c')
    assert.equal(r.ok === false && `${r.code} ${r.cause}`, '503 store-unavailable')
  })

  // A store whose reply never comes: admission is refused by its own deadline, not by the hang
  // ending. No wall-clock bound here (tests assert no timings); a hang fails on mocha's timeout, and
  // the deadline is the one named in the reason.
  it('refuses at its deadline when the store hangs', async () => {
    const store = new MemoryStore()
    store.tryAcquireCall = () => new Promise(() => {})
    const r = await admit(store, CompiledPipeline.from(uclabConfig()), 'webex', 'c', { timeoutMs: 30 })
    assert.equal(r.ok === false && r.cause, 'store-unavailable')
    assert.match(r.ok === false ? r.reason : '', /no reply within 30 ms/)
  })

  it('releases without throwing when the store is down', async () => {
    const store = new MemoryStore()
    store.releaseCall = () => Promise.reject(new StateUnavailableError('down'))
    await releaseAdmission(store, 'webex', 'c')
  })
})
