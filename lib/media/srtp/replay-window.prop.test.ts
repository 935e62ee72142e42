import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ReplayWindow } from './replay-window.ts'

/* The bitmap window against a model written straight from RFC 3711 §3.3.2: a set of received indices
 * and the highest one; accept when ahead, or within 64 behind and not in the set. */
describe('ReplayWindow property', () => {
  it('agrees with the set model for any sequence of indices', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 300 }), (indices) => {
        const w = new ReplayWindow()
        const seen = new Set<number>()
        let highest = -1
        for (const i of indices) {
          const model = highest < 0 || i > highest || (highest - i < 64 && !seen.has(i))
          assert.equal(w.check(i), model, `index ${i} after highest ${highest}`)
          if (model) {
            w.accept(i)
            seen.add(i)
            highest = Math.max(highest, i)
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})
