import assert from 'node:assert/strict'
import fc from 'fast-check'
import { type BencodeValue, bdecode, bencode } from './bencode.ts'
import { BencodeError, NgErrorCode } from './errors.ts'

/** Builds values with the same shape bdecode returns (null-prototype dictionaries). */
function dict(entries: [string, BencodeValue][]): Record<string, BencodeValue> {
  const out: Record<string, BencodeValue> = Object.create(null)
  for (const [k, v] of entries) out[k] = v
  return out
}

const arbValue: fc.Arbitrary<BencodeValue> = fc.letrec<{ value: BencodeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'grapheme' }),
    fc.maxSafeInteger(),
    fc
      .bigInt({ min: -(2n ** 80n), max: 2n ** 80n })
      .filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .uniqueArray(fc.tuple(fc.string({ unit: 'grapheme' }), tie('value')), {
        selector: (e) => e[0],
        maxLength: 5,
      })
      .map(dict),
  ),
})).value

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof BencodeError && e.code === code)
}

describe('bencode', () => {
  it('encodes the BEP 3 examples', () => {
    assert.equal(bencode('spam').toString(), '4:spam')
    assert.equal(bencode(3).toString(), 'i3e')
    assert.equal(bencode(-3).toString(), 'i-3e')
    assert.equal(bencode(-0).toString(), 'i0e')
    assert.equal(bencode(['spam', 'eggs']).toString(), 'l4:spam4:eggse')
    assert.equal(bencode({ spam: ['a', 'b'], cow: 'moo' }).toString(), 'd3:cow3:moo4:spaml1:a1:bee')
  })

  it('writes an NG ping as rtpengine documents it', () => {
    assert.equal(bencode({ command: 'ping' }).toString(), 'd7:command4:pinge')
  })

  it('sorts keys by their UTF-8 bytes and skips undefined members', () => {
    assert.equal(bencode({ b: 1, a: undefined, é: 2, Z: 3 }).toString(), 'd1:Zi3e1:bi1e2:éi2ee')
  })

  it('counts string lengths in bytes, not characters', () => {
    assert.equal(bencode('é€').toString('utf8'), '5:é€')
  })

  it('accepts unsorted keys by default (Kamailio sends insertion order) and rejects them when strict', () => {
    assert.deepEqual(
      bdecode('d1:bi1e1:ai2ee'),
      dict([
        ['b', 1],
        ['a', 2],
      ]),
    )
    expectCode(() => bdecode('d1:bi1e1:ai2ee', { strictKeyOrder: true }), NgErrorCode.bencodeSyntax)
  })

  it('keeps invalid UTF-8 as a Buffer and everything as Buffers on request', () => {
    const raw = Buffer.from([0x33, 0x3a, 0xff, 0xfe, 0x00])
    assert.deepEqual(bdecode(raw), Buffer.from([0xff, 0xfe, 0x00]))
    assert.deepEqual(bdecode('4:spam', { strings: 'buffer' }), Buffer.from('spam'))
  })

  it('treats __proto__ as an ordinary key', () => {
    const d = bdecode('d9:__proto__i1ee') as Record<string, unknown>
    assert.equal(d['__proto__'.toString()], 1)
    assert.equal(Object.getPrototypeOf(d), null)
  })

  it('decodes integers beyond 2^53 as bigint', () => {
    assert.equal(bdecode('i9007199254740993e'), 9007199254740993n)
  })

  const bad: [string, string, string][] = [
    ['empty input', '', NgErrorCode.bencodeSyntax],
    ['leading zero integer', 'i03e', NgErrorCode.bencodeSyntax],
    ['negative zero', 'i-0e', NgErrorCode.bencodeSyntax],
    ['empty integer', 'ie', NgErrorCode.bencodeSyntax],
    ['unterminated integer', 'i12', NgErrorCode.bencodeSyntax],
    ['float', 'i1.5e', NgErrorCode.bencodeSyntax],
    ['string past end', '5:abc', NgErrorCode.bencodeSyntax],
    ['leading zero length', '03:abc', NgErrorCode.bencodeSyntax],
    ['missing colon', '3abc', NgErrorCode.bencodeSyntax],
    ['unterminated list', 'l1:a', NgErrorCode.bencodeSyntax],
    ['unterminated dict', 'd1:ai1e', NgErrorCode.bencodeSyntax],
    ['integer key', 'di1ei2ee', NgErrorCode.bencodeSyntax],
    ['duplicate key', 'd1:ai1e1:ai2ee', NgErrorCode.bencodeSyntax],
    ['dict key without value', 'd1:ae', NgErrorCode.bencodeSyntax],
    ['trailing data', 'i1ei2e', NgErrorCode.bencodeSyntax],
    ['unknown token', 'x', NgErrorCode.bencodeSyntax],
    ['huge length', '99999999999:a', NgErrorCode.bencodeSyntax],
    ['too deep', `${'l'.repeat(40)}${'e'.repeat(40)}`, NgErrorCode.bencodeLimit],
  ]
  for (const [name, input, code] of bad) {
    it(`rejects ${name} with ${code}`, () => expectCode(() => bdecode(input), code))
  }

  it('enforces the size and item limits', () => {
    expectCode(() => bdecode('4:spam', { maxBytes: 5 }), NgErrorCode.bencodeLimit)
    expectCode(() => bdecode('li1ei2ei3ee', { maxItems: 3 }), NgErrorCode.bencodeLimit)
  })

  it('refuses values bencode cannot carry, and cycles', () => {
    for (const v of [1.5, Number.NaN, null, true, undefined, Symbol('x'), () => 1]) {
      expectCode(() => bencode(v), NgErrorCode.bencodeEncode)
    }
    const cyclic: unknown[] = []
    cyclic.push(cyclic)
    expectCode(() => bencode(cyclic), NgErrorCode.bencodeEncode)
  })

  it('round-trips any value (property)', () => {
    fc.assert(
      fc.property(arbValue, (v) => {
        const encoded = bencode(v)
        assert.deepStrictEqual(bdecode(encoded, { maxDepth: 64, maxItems: 1e6, strictKeyOrder: true }), v)
      }),
    )
  })

  it('never throws anything but BencodeError on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          bdecode(bytes)
        } catch (e) {
          assert.ok(e instanceof BencodeError, String(e))
        }
      }),
    )
  })

  it('decode(encode(decode(x))) is stable for mutated valid documents (property)', () => {
    fc.assert(
      fc.property(arbValue, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const bytes = Buffer.from(bencode(v))
        if (bytes.length > 0) bytes[at % bytes.length] = byte
        let decoded: BencodeValue
        try {
          decoded = bdecode(bytes)
        } catch (e) {
          assert.ok(e instanceof BencodeError)
          return
        }
        assert.deepStrictEqual(bdecode(bencode(decoded)), decoded)
      }),
    )
  })
})
