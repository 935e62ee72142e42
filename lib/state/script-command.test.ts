import assert from 'node:assert/strict'
import { Command } from 'ioredis'
import { EvalshaCommand, evalshaFrame } from './script-command.ts'

const SHA = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'

/** The frame ioredis writes for the same command (a string, sent as UTF-8). */
function ioredisFrame(numberOfKeys: number, args: Array<string | number>): Buffer {
  const c = new Command('evalsha', [SHA, numberOfKeys, ...args])
  return Buffer.from(c.toWritable({}) as string, 'utf8')
}

describe('evalshaFrame', () => {
  const cases: Record<string, Array<string | number>> = {
    'no arguments': [],
    'empty string and numbers at digit boundaries': ['', 0, 9, 10, 99, 100, 12345678901],
    'ASCII keys and a state of several kB': ['sbc:{c:k1}', 'sbc:{l:x}', 'x'.repeat(5000)],
    'UTF-8: 2, 3 and 4 octets per character, short and long': ['ü€𝄞', 'é'.repeat(70), `${'a'.repeat(64)}ü`],
    'numbers String() writes with a sign, a point or an exponent': [-1, 1.5, 1e20, 1e15, 999_999_999_999_999],
  }
  for (const [name, args] of Object.entries(cases)) {
    it(`writes the octets ioredis writes: ${name}`, () => {
      assert.deepEqual(evalshaFrame(SHA, 3, args), ioredisFrame(3, args))
    })
  }

  it('is what EvalshaCommand gives the socket', () => {
    const c = new EvalshaCommand(SHA, 1, ['k', 42])
    assert.equal(c.name, 'evalsha')
    assert.deepEqual(c.toWritable({}), ioredisFrame(1, ['k', 42]))
  })
})
