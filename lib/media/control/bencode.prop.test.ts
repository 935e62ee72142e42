import assert from 'node:assert/strict'
import fc from 'fast-check'
import { fcParams } from '../../../test/harness/fast-check.ts'
import { type BencodeDict, type BencodeValue, bdecode, bencode } from './bencode.ts'
import { BencodeError, NgError, NgErrorCode } from './errors.ts'
import { decodeNgDatagram } from './ng-message.ts'

/*
 * Properties of the NG wire format's bencode: what a peer sends is hostile until decoded. The
 * decoder answers every input with a value or a BencodeError (SBC_ERR_BENCODE_SYNTAX / _LIMIT) and
 * nothing else; binary strings, integers beyond 2^53 and deep or long documents round-trip within
 * the limits; deep nesting and huge declared lengths are refused before they cost stack or memory.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true })

function nullDict(entries: readonly [string, BencodeValue][]): BencodeDict {
  const out: BencodeDict = Object.create(null)
  for (const [k, v] of entries) out[k] = v
  return out
}

/** Any bencodable value, byte strings as Buffers of arbitrary octets as well as text. */
const arbValue: fc.Arbitrary<BencodeValue> = fc.letrec<{ value: BencodeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary' }),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
    fc.array(tie('value'), { maxLength: 6 }),
    fc
      .uniqueArray(fc.tuple(fc.string({ unit: 'binary', maxLength: 12 }), tie('value')), {
        selector: (e) => e[0],
        maxLength: 6,
      })
      .map(nullDict),
  ),
})).value

/**
 * What the decoder gives back for `v` with `strings: 'auto'`: text for a byte string that is valid
 * UTF-8, a Buffer otherwise; a number for a safe integer, a bigint beyond.
 */
function decodedForm(v: BencodeValue, strings: 'auto' | 'buffer'): BencodeValue {
  if (typeof v === 'string') return strings === 'buffer' ? Buffer.from(v, 'utf8') : v
  if (Buffer.isBuffer(v)) {
    if (strings === 'buffer') return v
    try {
      return utf8.decode(v)
    } catch {
      return v
    }
  }
  if (typeof v === 'bigint')
    return v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : v
  if (typeof v === 'number') return v
  if (Array.isArray(v)) return v.map((x) => decodedForm(x, strings))
  return nullDict(Object.entries(v).map(([k, x]) => [k, decodedForm(x, strings)]))
}

/**
 * Bytes drawn from bencode's own alphabet (and a few others) in runs, so that most inputs get past
 * the first byte into lists, dictionaries, lengths and integers, which uniform random bytes rarely do.
 */
const arbTokens: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      fc.constantFrom('l', 'd', 'e', 'i', '-', ':', '0', '1', '9', '1:a', '2:ab', 'i0e', 'i-1e', '0:'),
      fc.integer({ min: 0, max: 99_999_999_999 }).map((n) => `${n}:`),
      fc.bigInt({ min: 0n, max: 10n ** 40n }).map((n) => `i${n}e`),
      fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => Buffer.from(a).toString('latin1')),
    ),
    { maxLength: 60 },
  )
  .map((parts) => Buffer.from(parts.join(''), 'latin1'))

function isBencodeError(
  e: unknown,
  codes: readonly string[] = [NgErrorCode.bencodeSyntax, NgErrorCode.bencodeLimit],
) {
  return e instanceof BencodeError && codes.includes(e.code)
}

/** `depth` containers around `1:x`, each a list or a one-key dictionary as `kinds` says. */
function nested(depth: number, kinds: readonly boolean[]): Buffer {
  const open: string[] = []
  for (let i = 0; i < depth; i++) open.push(kinds[i % kinds.length] ? 'd1:k' : 'l')
  return Buffer.from(`${open.join('')}1:x${'e'.repeat(depth)}`, 'latin1')
}

describe('bencode properties', () => {
  it('decode(encode(x)) gives x back, binary strings and big integers included', () => {
    fc.assert(
      fc.property(arbValue, fc.constantFrom<'auto' | 'buffer'>('auto', 'buffer'), (v, strings) => {
        const decoded = bdecode(bencode(v), { maxDepth: 64, maxItems: 1e6, strictKeyOrder: true, strings })
        assert.deepStrictEqual(decoded, decodedForm(v, strings))
      }),
      fcParams(400),
    )
  })

  it('answers any byte string with a value or a BencodeError, and a value re-encodes to itself', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          arbTokens,
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        ),
        (bytes) => {
          let decoded: BencodeValue
          try {
            decoded = bdecode(bytes)
          } catch (e) {
            assert.ok(isBencodeError(e), `not a typed bencode error: ${String(e)}`)
            return
          }
          // Keys may come unsorted (the decoder is tolerant): the encoder's canonical form decodes to
          // the same value.
          assert.deepStrictEqual(bdecode(bencode(decoded)), decoded)
        },
      ),
      fcParams(2000),
    )
  })

  it('refuses nesting beyond maxDepth with SBC_ERR_BENCODE_LIMIT, at any depth', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30_000 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        (depth, kinds) => {
          const doc = nested(depth, kinds)
          if (depth <= 32) {
            bdecode(doc)
            return
          }
          assert.throws(
            () => bdecode(doc),
            (e) => isBencodeError(e, [NgErrorCode.bencodeLimit]),
          )
        },
      ),
      fcParams(200),
    )
  })

  it('never overflows the stack, even with maxDepth raised past what it holds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30_000 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
        (depth, kinds) => {
          const doc = nested(depth, kinds)
          try {
            bdecode(doc, { maxDepth: 1e9, maxItems: 1e9 })
          } catch (e) {
            assert.ok(isBencodeError(e, [NgErrorCode.bencodeLimit]), `not a typed limit error: ${String(e)}`)
          }
          // The same for the encoder (its maxDepth is also what stops cycles).
          // Built from the inside out: container i (0 the outermost) as nested() writes it.
          let v: BencodeValue = 'x'
          for (let i = depth - 1; i >= 0; i--) v = kinds[i % kinds.length] ? nullDict([['k', v]]) : [v]
          let encoded: Buffer | undefined
          try {
            encoded = bencode(v, { maxDepth: 1e9 })
          } catch (e) {
            assert.ok(
              isBencodeError(e, [NgErrorCode.bencodeEncode]),
              `not a typed encode error: ${String(e)}`,
            )
          }
          if (encoded) assert.deepStrictEqual(encoded, doc)
        },
      ),
      // Found by this property: a RangeError escaped both ways (2,814 levels overflowed the encoder).
      fcParams(25, {
        examples: [
          [2814, [false, true]],
          [30_000, [false, true]],
        ],
      }),
    )
  })

  it('refuses a declared length beyond the input without taking it at its word', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 32 }),
        fc.bigInt({ min: 1n, max: 10n ** 30n }),
        fc.constantFrom('', 'l', 'd1:k', 'ld1:k'),
        (payload, extra, prefix) => {
          const declared = BigInt(payload.length) + extra
          const doc = Buffer.concat([Buffer.from(`${prefix}${declared}:`, 'latin1'), payload])
          assert.throws(
            () => bdecode(doc),
            (e) =>
              isBencodeError(e, [NgErrorCode.bencodeSyntax]) &&
              /runs past the end|string length too long/.test((e as Error).message),
          )
        },
      ),
      fcParams(300),
    )
  })

  it('counts every value against maxItems, keys included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 400 }),
        fc.boolean(),
        (n, maxItems, asDict) => {
          // A list of n integers is n + 1 values; a dictionary of n entries is 2n + 1 (keys count).
          const doc = asDict
            ? `d${Array.from({ length: n }, (_, i) => `${String(i).length}:${i}i${i}e`).join('')}e`
            : `l${'i7e'.repeat(n)}e`
          const values = asDict ? 2 * n + 1 : n + 1
          if (values <= maxItems) {
            bdecode(doc, { maxItems })
            return
          }
          assert.throws(
            () => bdecode(doc, { maxItems }),
            (e) => isBencodeError(e, [NgErrorCode.bencodeLimit]),
          )
        },
      ),
      fcParams(300),
    )
  })

  it('frames any datagram as a request dictionary or a typed NG/bencode error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
          fc
            .tuple(
              fc.string({ unit: 'binary-ascii', maxLength: 140 }),
              arbTokens,
              fc.constantFrom('', '\n', '\r\n'),
            )
            .map(([cookie, body, tail]) =>
              Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), body, Buffer.from(tail)]),
            ),
        ),
        (datagram) => {
          try {
            const { cookie, dict } = decodeNgDatagram(datagram)
            assert.match(cookie, /^[\x21-\x7e]{1,128}$/)
            assert.equal(typeof dict, 'object')
            assert.ok(!Array.isArray(dict) && !Buffer.isBuffer(dict))
          } catch (e) {
            assert.ok(e instanceof NgError || isBencodeError(e), `untyped: ${String(e)}`)
          }
        },
      ),
      fcParams(1500),
    )
  })
})
