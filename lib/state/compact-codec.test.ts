import assert from 'node:assert/strict'
import fc from 'fast-check'
import { isDialogState } from '../sip/dialog/dialog-state.ts'
import { decodeDialogState, encodeDialogState } from './compact-codec.ts'
import { answered, testCall } from './test-call.ts'

describe('compact DialogState encoding', () => {
  it('round-trips an early and an answered call, and is smaller than plain JSON', () => {
    for (const s of [testCall('c1'), answered(testCall('c2'))]) {
      const text = encodeDialogState(s)
      assert.deepEqual(decodeDialogState(text), s)
      assert.ok(text.length < JSON.stringify(s).length * 0.7, `${text.length} vs ${JSON.stringify(s).length}`)
    }
  })

  it('round-trips any valid state, optional fields present or not', () => {
    const str = fc.string({ maxLength: 12 })
    fc.assert(
      fc.property(
        str,
        fc.option(str, { nil: undefined }),
        fc.nat(),
        fc.boolean(),
        (tag, reason, cseq, media) => {
          const base = testCall('p1', { aRemoteTag: tag })
          const s = {
            ...(media ? answered(base) : base),
            a: { ...base.a, remoteCSeq: cseq, routeSet: [tag, ''] },
            cdr: reason === undefined ? {} : { endReason: reason },
          }
          assert.ok(isDialogState(s))
          assert.deepEqual(decodeDialogState(encodeDialogState(s)), s)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('does not mistake other text for this encoding', () => {
    assert.equal(decodeDialogState(JSON.stringify(testCall('c1'))), undefined)
    assert.equal(decodeDialogState('[2, []]'), undefined)
    assert.throws(() => decodeDialogState('not json'), SyntaxError)
  })
})
