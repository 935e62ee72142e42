import assert from 'node:assert/strict'
import { glareDelayMs } from './call-reanchor.ts'

describe('glareDelayMs (RFC 3261 §14.1)', () => {
  it('leg B, whose Call-ID the SBC generated: 2.1 to 4 s; leg A: 0 to 2 s; in units of 10 ms', () => {
    const low = () => 0
    const high = () => 0.999999
    assert.deepEqual([glareDelayMs('b', low), glareDelayMs('b', high)], [2100, 4000])
    assert.deepEqual([glareDelayMs('a', low), glareDelayMs('a', high)], [0, 2000])
    for (let i = 0; i < 100; i++) {
      const b = glareDelayMs('b')
      assert.ok(b >= 2100 && b <= 4000 && b % 10 === 0, String(b))
      const a = glareDelayMs('a')
      assert.ok(a >= 0 && a <= 2000 && a % 10 === 0, String(a))
    }
  })
})
