import assert from 'node:assert/strict'
import { Interner } from './interner.ts'

describe('Interner', () => {
  it('returns the first value stored under a key to every later caller', () => {
    const t = new Interner<object>(4)
    const a = { v: 1 }
    assert.equal(t.get('k', a), a)
    assert.equal(t.get('k', { v: 2 }), a)
    assert.equal(t.size, 1)
  })

  it('stops adding at its limit and hands back the caller’s own value, keeping what it holds', () => {
    const t = new Interner<string>(2)
    t.get('a', 'A')
    t.get('b', 'B')
    const own = 'C'
    assert.equal(t.get('c', own), own)
    assert.equal(t.size, 2)
    assert.equal(t.get('a', 'other'), 'A')
  })

  it('rejects a limit that is not a non-negative integer', () => {
    assert.throws(() => new Interner(-1), RangeError)
    assert.throws(() => new Interner(1.5), RangeError)
  })
})
