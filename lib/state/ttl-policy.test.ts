import assert from 'node:assert/strict'
import { answered, testCall } from './test-call.ts'
import { callTtlMs, defaultTtlPolicy } from './ttl-policy.ts'

describe('callTtlMs', () => {
  const p = defaultTtlPolicy
  it('gives early calls a little over Timer C', () => {
    assert.equal(callTtlMs(testCall('c'), p), 200_000)
  })
  it('gives confirmed calls the session interval plus 32 s, or the max call duration', () => {
    assert.equal(callTtlMs(answered(testCall('c')), p), 1_832_000)
    assert.equal(callTtlMs({ ...answered(testCall('c')), sessionExpiresS: undefined }, p), 4 * 3600_000)
    assert.equal(callTtlMs({ ...answered(testCall('c')), sessionExpiresS: 86_400 }, p), 4 * 3600_000)
  })
  it('keeps terminated calls for 64·T1', () => {
    assert.equal(callTtlMs({ ...testCall('c'), state: 'terminated' }, p), 32_000)
  })
})
