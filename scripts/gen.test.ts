import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openApiSchema } from '../lib/api/crd/build-crd.ts'
import { structuralErrors } from '../lib/api/crd/structural-errors.ts'
import { kindRegistry } from '../lib/api/v1alpha1/group.ts'
import { generate, repoRoot } from './gen.ts'

describe('scripts/gen.ts', () => {
  for (const [path, content] of generate()) {
    it(`committed ${path} equals a fresh generation (run npm run gen if not)`, () => {
      const committed = readFileSync(join(repoRoot, path), 'utf8')
      assert.equal(committed, content, `${path} drifted from lib/api/v1alpha1; run npm run gen`)
    })
  }

  for (const info of kindRegistry) {
    it(`generates a structural schema with a description on every field for ${info.kind}`, () => {
      assert.deepEqual(structuralErrors(openApiSchema(info)), [])
    })
  }

  it('the structural check rejects what the API server rejects', () => {
    const bad = {
      type: 'object',
      description: 'root',
      properties: {
        a: { description: 'no type' },
        b: { type: 'string', description: 'x', $ref: '#/x' },
        c: { description: 'union', anyOf: [{ type: 'string', description: 'typed branch' }] },
        d: { type: 'array', description: 'no items' },
        e: {
          type: 'object',
          description: 'both',
          properties: {},
          additionalProperties: { type: 'string', description: 'v' },
        },
        f: { type: 'string' },
        g: { type: 'string', description: 'const', const: 'x' },
      },
    }
    const errors = structuralErrors(bad)
    for (const expected of [
      'properties.a: type must be set',
      'properties.b: $ref is forbidden',
      'properties.c.anyOf[0]: type must not appear inside anyOf/oneOf/allOf/not',
      'properties.d: an array needs exactly one items schema',
      'properties.e: properties and additionalProperties are mutually exclusive',
      'properties.f: description is missing',
      'properties.g: unknown keyword const',
    ]) {
      assert.ok(
        errors.some((e) => e.endsWith(expected)),
        `missing "${expected}" in ${errors.join('\n')}`,
      )
    }
  })
})
