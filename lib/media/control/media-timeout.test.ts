import { strict as assert } from 'node:assert'
import { formatMediaTimeoutNotice, parseMediaTimeoutNotice } from './media-timeout.ts'

describe('media timeout notice (kube-sbc:media-timeout)', () => {
  it('round-trips the four keys and ignores keys a later pod may add', () => {
    const n = { callId: 'c1', fromTag: 'a', pod: 'media-0', idleSeconds: 61 }
    const text = formatMediaTimeoutNotice(n)
    assert.equal(text, '{"callId":"c1","fromTag":"a","pod":"media-0","idleSeconds":61}')
    assert.deepEqual(parseMediaTimeoutNotice(text), n)
    assert.deepEqual(parseMediaTimeoutNotice(JSON.stringify({ ...n, mediaIndex: 0 })), n)
  })

  it('carries hold: true after a hold timeout, and reads a notice without it (or hold: false) as a media timeout', () => {
    const n = { callId: 'c1', fromTag: 'a', pod: 'media-0', idleSeconds: 3600, hold: true }
    const text = formatMediaTimeoutNotice(n)
    assert.equal(text, '{"callId":"c1","fromTag":"a","pod":"media-0","idleSeconds":3600,"hold":true}')
    assert.deepEqual(parseMediaTimeoutNotice(text), n)
    const plain = { callId: 'c1', fromTag: 'a', pod: 'media-0', idleSeconds: 61 }
    assert.equal(formatMediaTimeoutNotice({ ...plain, hold: false }), formatMediaTimeoutNotice(plain))
    assert.deepEqual(parseMediaTimeoutNotice(JSON.stringify({ ...plain, hold: false })), plain)
  })

  for (const [what, text] of [
    ['not JSON', 'timeout c1'],
    ['an array', '[]'],
    ['null', 'null'],
    ['no callId', '{"fromTag":"a","pod":"p","idleSeconds":1}'],
    ['an empty pod', '{"callId":"c","fromTag":"a","pod":"","idleSeconds":1}'],
    ['a numeric fromTag', '{"callId":"c","fromTag":1,"pod":"p","idleSeconds":1}'],
    ['fractional idleSeconds', '{"callId":"c","fromTag":"a","pod":"p","idleSeconds":1.5}'],
    ['negative idleSeconds', '{"callId":"c","fromTag":"a","pod":"p","idleSeconds":-1}'],
    ['idleSeconds as a string', '{"callId":"c","fromTag":"a","pod":"p","idleSeconds":"1"}'],
    ['hold as a string', '{"callId":"c","fromTag":"a","pod":"p","idleSeconds":1,"hold":"yes"}'],
  ] as const) {
    it(`rejects ${what} with SBC_ERR_MEDIA_TIMEOUT_NOTICE`, () => {
      assert.throws(() => parseMediaTimeoutNotice(text), { code: 'SBC_ERR_MEDIA_TIMEOUT_NOTICE' })
    })
  }
})
