import assert from 'node:assert/strict'
import { compile } from './compile/compile.ts'
import { base, ipGroup, routeTo, routingRule } from './compile/fixtures.ts'
import { ConfigInvalidError } from './errors.ts'
import { parseConfig, validateConfig } from './validate.ts'

const good = () =>
  compile([...base(), ipGroup('g'), routingRule('r', 1, routeTo('g'))], { generation: 2 }).config

describe('validateConfig', () => {
  it('accepts a compiled snapshot and round-trips it through JSON', () => {
    assert.deepEqual(parseConfig(JSON.stringify(good())), good())
  })

  it('rejects a snapshot whose route targets a group it does not contain', () => {
    const c = good()
    c.groups = []
    assert.throws(
      () => validateConfig(c),
      (e: unknown) => {
        assert.ok(e instanceof ConfigInvalidError)
        assert.equal(e.code, 'SBC_ERR_CONFIG_INVALID')
        assert.ok(e.problems.includes('routes[0].action.targets: unknown group g'), e.problems.join('\n'))
        return true
      },
    )
  })

  it('rejects a snapshot that breaks the schema, naming the field', () => {
    const c = { ...good(), generation: -1 }
    assert.throws(() => validateConfig(c), /generation/)
  })

  it('rejects text that is not JSON with a typed error', () => {
    assert.throws(
      () => parseConfig('{'),
      (e: unknown) => e instanceof ConfigInvalidError && /not JSON/.test(e.message),
    )
  })
})
