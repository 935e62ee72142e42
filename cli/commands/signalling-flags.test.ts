import { strict as assert } from 'node:assert'
import { UsageError } from '../errors.ts'
import { intFlag } from './signalling-flags.ts'

/**
 * intFlag, behind every integer flag of `kube-sbc media`, `run` and `signalling` (--hold-timeout,
 * --media-timeout, --ng-port…): a value that is not a decimal integer is a usage error. `Number()`
 * alone read an empty or blank value as 0, which for these flags means "off" or "any port":
 * `--hold-timeout=` silently disabled the hold timeout.
 */
describe('intFlag', () => {
  const read = (v: string | undefined) => intFlag({ 'hold-timeout': v }, 'hold-timeout', 3600, 0, 86_400)

  it('takes a decimal integer within the bounds, and the default when the flag is absent', () => {
    assert.equal(read('0'), 0)
    assert.equal(read('86400'), 86_400)
    assert.equal(read(undefined), 3600)
  })

  for (const bad of ['', ' ', '\t', 'abc', '1.5', '-1', '86401', '1e3', '0x10'])
    it(`refuses ${JSON.stringify(bad)} with the usage message`, () => {
      assert.throws(
        () => read(bad),
        (e: unknown) => e instanceof UsageError && e.message === '--hold-timeout must be an integer 0-86400',
      )
    })
})
