import assert from 'node:assert/strict'
import type { TSchema } from '@sinclair/typebox'
import fc from 'fast-check'
import { DialogStateSchema, isDialogState } from '../sip/dialog/dialog-state.ts'
import { CODEC_VERSION, decodeDialogState, encodeDialogState } from './compact-codec.ts'
import { answered, testCall } from './test-call.ts'

/**
 * The encoding as first written (ADR 0071), walking the schema on every call: records written by
 * processes of an older version must read the same, so the encoder built once must match it byte for
 * byte.
 */
function referenceEncode(schema: TSchema, value: unknown): unknown {
  if (
    schema.type === 'object' &&
    typeof schema.properties === 'object' &&
    value !== null &&
    typeof value === 'object'
  ) {
    const rec = value as Record<string, unknown>
    const out: unknown[] = []
    for (const [k, sub] of Object.entries(schema.properties as Record<string, TSchema>))
      out.push(rec[k] === undefined ? null : referenceEncode(sub, rec[k]))
    while (out.length > 0 && out[out.length - 1] === null) out.pop()
    return out
  }
  if (schema.type === 'array' && Array.isArray(value))
    return value.map((v) => referenceEncode(schema.items, v))
  return value
}

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
          const text = encodeDialogState(s)
          assert.equal(text, JSON.stringify([CODEC_VERSION, referenceEncode(DialogStateSchema, s)]))
          assert.deepEqual(decodeDialogState(text), s)
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
