import assert from 'node:assert/strict'
import { dialogStoreContract } from './dialog-store.contract.ts'
import { MemoryStore } from './memory-store.ts'
import { testCall } from './test-call.ts'

describe('MemoryStore', () => {
  let now = 1_790_000_000_000

  it('drops expired entries nobody reads again, so a long-running process does not grow', async () => {
    const store = new MemoryStore({
      now: () => now,
      ttl: { earlyMs: 1000, maxCallMs: 60_000, terminatedMs: 1000 },
    })
    for (let i = 0; i < 1000; i++) {
      await store.createCall(testCall(`old${i}`))
      await store.tryAcquireCall(`group${i}`, `old${i}`, 10, 1000)
    }
    assert.equal(store.entryCount(), 4000, 'call, two indexes and a hold each')
    now += 2000
    for (let i = 0; i < 60; i++) await store.createCall(testCall(`new${i}`))
    assert.equal(store.entryCount(), 180, 'only the live calls remain after a sweep')
  })

  dialogStoreContract({
    async make(ttl) {
      return new MemoryStore({ now: () => now, ...(ttl ? { ttl } : {}) })
    },
    async peer(store) {
      return store
    },
    async advance(ms) {
      now += ms
    },
  })
})
