import { dialogStoreContract } from './dialog-store.contract.ts'
import { MemoryStore } from './memory-store.ts'

describe('MemoryStore', () => {
  let now = 1_790_000_000_000
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
