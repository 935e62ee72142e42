import assert from 'node:assert/strict'
import { Value } from '@sinclair/typebox/value'
import fc from 'fast-check'
import { fcParams } from '../../../test/harness/fast-check.ts'
import { type BencodeDict, type BencodeValue, bdecode, bencode } from './bencode.ts'
import { NgError, NgErrorCode } from './errors.ts'
import { canonicalKey, type NgCommand, NgCommands, parseNgRequest, REQUEST_SCHEMAS } from './ng-message.ts'

/*
 * parseNgRequest against any dictionary a peer can send: it throws SBC_ERR_NG_INVALID, or returns a
 * request that its command's schema accepts on its own properties (nothing inherited, nothing of a
 * wrong type quietly replaced by flag folding). The dictionaries are built as the decoder builds them
 * (null-prototype, through a real bencode round trip) from the schemas' own keys in their spellings,
 * flags and prefixed flags, keys that mean something to JavaScript objects, and arbitrary values.
 */

const SCHEMAS = REQUEST_SCHEMAS

const schemaKeys = [...new Set(Object.values(SCHEMAS).flatMap((s) => Object.keys(s.properties)))]

const arbKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...schemaKeys) },
  { weight: 2, arbitrary: fc.constantFrom(...schemaKeys).map((k) => k.replaceAll(' ', '-')) },
  { weight: 1, arbitrary: fc.constantFrom(...schemaKeys).map((k) => k.replaceAll('-', ' ')) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'length'),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
)

const arbAny: fc.Arbitrary<BencodeValue> = fc.letrec<{ value: BencodeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 8 }),
    fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => Buffer.from(a).fill(0xff, 0, 1)),
    fc.integer({ min: -5, max: 2000 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 3 }),
  ),
})).value

const arbFlag = fc.oneof(
  fc.constantFrom(
    'trust-address',
    'trust address',
    'symmetric',
    'asymmetric',
    'strict source',
    'SDES-off',
    'SDES-only-AES_CM_128_HMAC_SHA1_80',
    'SDES-no-AES_CM_128_HMAC_SHA1_32',
    'codec-strip-PCMU',
    'codec-offer-opus',
    'codec-mask-all',
    'codec-transcode-G722',
    'codec-nonsense-x',
    'replace-origin',
    'replace-session-connection',
    'rtcp-mux-demux',
    'rtcp-mux-require',
    'loop-protect',
    'fatal',
  ),
  fc.string({ maxLength: 10 }),
)

/** A value of roughly the right shape for a key, often enough that requests get past the schema. */
const arbPlausible: fc.Arbitrary<BencodeValue> = fc.oneof(
  fc.constantFrom('abc', 'x', '', 'RTP/AVP', 'force', 'IP4', 'IP6', 'remove', 'both', 'offer', 'lan'),
  fc.constant('x'.repeat(1025)), // one past the longest call-id and tag
  fc.array(arbFlag, { maxLength: 4 }),
  fc.array(fc.string({ maxLength: 6 }), { minLength: 2, maxLength: 2 }),
  fc.integer({ min: -2, max: 1200 }),
  fc.dictionary(
    fc.constantFrom('strip', 'offer', 'mask', 'except', 'transcode', 'opus/48000/2', 'PCMU/8000', 'x'),
    fc.oneof(fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.integer({ min: 90, max: 130 })),
    { maxKeys: 3 },
  ),
)

/**
 * The dictionary the NG server decodes from these entries, in this order on the wire. Written by hand
 * rather than through bencode(object), which would lose a `__proto__` key given by an object literal;
 * the decoder keeps it as data, as it must.
 */
function decoded(entries: readonly [string, BencodeValue][]): BencodeDict {
  const parts: Buffer[] = [Buffer.from('d')]
  for (const [k, v] of entries) {
    const kb = Buffer.from(k)
    parts.push(Buffer.from(`${kb.length}:`), kb, bencode(v))
  }
  parts.push(Buffer.from('e'))
  return bdecode(Buffer.concat(parts)) as BencodeDict
}

const offer: [string, BencodeValue][] = [
  ['command', 'offer'],
  ['call-id', 'a'],
  ['from-tag', 'b'],
  ['sdp', 'v=0'],
]

/**
 * Counterexamples this property found, kept as regression cases: a `__proto__` key set the request's
 * prototype (a byte string there made the next key's assignment throw a TypeError; a dictionary lent
 * the request its command), and flag folding replaced a key given with the wrong type.
 */
const FOUND: [BencodeDict][] = [
  [
    decoded([
      ['__proto__', Buffer.from([0xff])],
      ['length', 0],
    ]),
  ],
  [decoded([['__proto__', decoded([['command', 'ping']])]])],
  [decoded([['__proto__', decoded(offer)]])],
  [decoded([...offer, ['SDES', 'abc'], ['flags', ['SDES-off']]])],
  [decoded([...offer, ['codec', 'x'], ['flags', ['codec-strip-PCMU']]])],
  [decoded([...offer, ['codec', decoded([['strip', 'PCMU']])], ['flags', ['codec-strip-PCMA']]])],
  [decoded([...offer, ['replace', 5], ['flags', ['replace-origin']]])],
  [decoded([...offer, ['rtcp-mux', decoded([])], ['flags', ['rtcp mux demux']]])],
]

/** A request dictionary exactly as the NG server would decode it from the wire. */
const arbDict: fc.Arbitrary<BencodeDict> = fc
  .tuple(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom<string>(...NgCommands) },
      { weight: 1, arbitrary: fc.constantFrom('withdraw-offer', 'Offer', '', 'ping ') },
      { weight: 1, arbitrary: arbAny },
    ),
    fc.boolean(),
    fc.uniqueArray(
      fc.tuple(arbKey, fc.oneof({ weight: 3, arbitrary: arbPlausible }, { weight: 1, arbitrary: arbAny })),
      {
        selector: (e) => e[0],
        maxLength: 10,
      },
    ),
  )
  .map(([command, withCommand, entries]) =>
    decoded([
      ...(withCommand ? [['command', command] as [string, BencodeValue]] : []),
      ...entries.filter(([k]) => !(withCommand && k === 'command')),
    ]),
  )

describe('NG request validation properties', () => {
  it('answers any dictionary with SBC_ERR_NG_INVALID or a request its schema accepts as it is', () => {
    fc.assert(
      fc.property(arbDict, (dict) => {
        const input = bencode(dict) // the dictionary as sent, for the comparison below
        let parsed: ReturnType<typeof parseNgRequest>
        try {
          parsed = parseNgRequest('c_1', dict)
        } catch (e) {
          assert.ok(e instanceof NgError && e.code === NgErrorCode.ngInvalid, `untyped: ${String(e)}`)
          assert.ok((e as Error).message.length > 0)
          return
        }
        const { request, warnings } = parsed
        // Own properties only: a key the peer named __proto__ must not lend the request a command.
        assert.ok(Object.hasOwn(request, 'command'), 'command is not an own property')
        const schema = SCHEMAS[request.command as NgCommand]
        assert.ok(schema, `unknown command ${String(request.command)}`)
        const own: Record<string, unknown> = Object.fromEntries(Object.entries(request))
        // Checked on a copy: Value.Check narrows its argument's type.
        const copy = { ...own }
        assert.ok(
          Value.Check(schema, copy),
          `the request fails its own schema: ${Value.Errors(schema, copy).First()?.message}`,
        )
        // A key the schema knows with a value of the wrong type is refused, never replaced by
        // what flag folding made of it.
        for (const [k, v] of Object.entries(bdecode(input) as BencodeDict)) {
          const key = canonicalKey(k)
          if (!Object.hasOwn(schema.properties, key)) continue
          const prop = (schema.properties as Record<string, Parameters<typeof Value.Check>[0]>)[key]
          if (prop && !Value.Check(prop, v))
            assert.fail(
              `'${key}' of the wrong type (${JSON.stringify(v)}) was accepted as ${JSON.stringify(own[key])}`,
            )
        }
        for (const w of warnings) assert.equal(typeof w, 'string')
      }),
      fcParams(3000, { examples: FOUND }),
    )
  })
})
