import { BencodeError, NgErrorCode } from './errors.ts'

/**
 * A bencoded value. Byte strings decode to `string` when they are valid UTF-8 and to `Buffer`
 * otherwise (or always to `Buffer` with `{ strings: 'buffer' }`); integers decode to `number`, or to
 * `bigint` beyond `Number.MAX_SAFE_INTEGER`. Dictionaries are null-prototype objects so that keys such
 * as `__proto__` sent by a peer are plain data.
 */
export type BencodeValue = string | Buffer | number | bigint | BencodeList | BencodeDict
/** A bencoded list. */
export type BencodeList = BencodeValue[]
/** A bencoded dictionary (keys are byte strings, taken as UTF-8/latin-1 text). */
export interface BencodeDict {
  [key: string]: BencodeValue
}

/** Limits that keep a hostile datagram from costing unbounded CPU or memory. */
export interface BencodeDecodeOptions {
  /** Largest accepted input in bytes. Default 65,535 (one UDP datagram). */
  maxBytes?: number
  /** Deepest accepted nesting of lists and dictionaries. Default 32. */
  maxDepth?: number
  /** Most values (of any kind) in one document. Default 10,000. */
  maxItems?: number
  /**
   * Require dictionary keys in strictly increasing byte order, as the bencode specification says.
   * Default `false`: rtpengine documents that it does not honour key order and Kamailio's module sends
   * keys in insertion order, so a tolerant decoder is the interoperable one. Duplicates are always
   * rejected.
   */
  strictKeyOrder?: boolean
  /** `'auto'` (default): UTF-8 strings, Buffers for invalid UTF-8. `'buffer'`: always Buffers. */
  strings?: 'auto' | 'buffer'
}

const D = 0x64 // d
const L = 0x6c // l
const I = 0x69 // i
const E = 0x65 // e
const COLON = 0x3a
const ZERO = 0x30
const NINE = 0x39

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes one bencoded document that must span the whole input. Throws {@link BencodeError} with code
 * `SBC_ERR_BENCODE_SYNTAX` or `SBC_ERR_BENCODE_LIMIT` on bad input; never anything else.
 */
export function bdecode(input: Uint8Array | string, options: BencodeDecodeOptions = {}): BencodeValue {
  const buf =
    typeof input === 'string'
      ? Buffer.from(input, 'utf8')
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  const maxBytes = options.maxBytes ?? 65_535
  if (buf.length > maxBytes) {
    throw new BencodeError(
      NgErrorCode.bencodeLimit,
      `input of ${buf.length} bytes exceeds the ${maxBytes}-byte limit`,
    )
  }
  const decoder = new Decoder(buf, options)
  let value: BencodeValue
  try {
    value = decoder.value(0)
  } catch (e) {
    // The decoder recurses once per level: a maxDepth raised past what the stack holds would let a
    // deep document end in a RangeError, which the NG server answers as an untyped `Internal error`.
    if (isStackOverflow(e)) {
      throw new BencodeError(NgErrorCode.bencodeLimit, 'nesting deeper than the stack allows', decoder.pos)
    }
    throw e
  }
  if (decoder.pos !== buf.length) {
    throw new BencodeError(NgErrorCode.bencodeSyntax, 'trailing data after the document', decoder.pos)
  }
  return value
}

/** V8's stack overflow (other RangeErrors, such as a string too long to build, are not nesting). */
function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message)
}

class Decoder {
  pos = 0
  private items = 0
  private readonly buf: Buffer
  private readonly maxDepth: number
  private readonly maxItems: number
  private readonly strictKeyOrder: boolean
  private readonly rawStrings: boolean

  constructor(buf: Buffer, options: BencodeDecodeOptions) {
    this.buf = buf
    this.maxDepth = options.maxDepth ?? 32
    this.maxItems = options.maxItems ?? 10_000
    this.strictKeyOrder = options.strictKeyOrder ?? false
    this.rawStrings = options.strings === 'buffer'
  }

  private fail(message: string, at = this.pos): never {
    throw new BencodeError(NgErrorCode.bencodeSyntax, message, at)
  }

  value(depth: number): BencodeValue {
    if (++this.items > this.maxItems) {
      throw new BencodeError(NgErrorCode.bencodeLimit, `more than ${this.maxItems} values`, this.pos)
    }
    const c = this.buf[this.pos]
    if (c === undefined) this.fail('unexpected end of input')
    if (c === I) return this.integer()
    if (c >= ZERO && c <= NINE) {
      const bytes = this.bytes()
      if (this.rawStrings) return bytes
      try {
        return utf8.decode(bytes)
      } catch {
        return bytes
      }
    }
    if (c === L || c === D) {
      if (depth >= this.maxDepth) {
        throw new BencodeError(NgErrorCode.bencodeLimit, `nesting deeper than ${this.maxDepth}`, this.pos)
      }
      this.pos++
      return c === L ? this.list(depth + 1) : this.dict(depth + 1)
    }
    return this.fail(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`)
  }

  private integer(): number | bigint {
    const start = ++this.pos
    const end = this.buf.indexOf(E, start)
    if (end < 0) this.fail('unterminated integer', start)
    const text = this.buf.toString('latin1', start, end)
    // BEP 3: "i-0e is invalid. All encodings with a leading zero, such as i03e, are invalid, other than i0e".
    if (!/^(0|-?[1-9][0-9]*)$/.test(text)) this.fail(`invalid integer '${text.slice(0, 32)}'`, start)
    this.pos = end + 1
    const n = Number(text)
    return Number.isSafeInteger(n) ? n : BigInt(text)
  }

  private bytes(): Buffer {
    const start = this.pos
    let len = 0
    let digits = 0
    for (;;) {
      const c = this.buf[this.pos]
      if (c === undefined) this.fail('unterminated string length', start)
      if (c === COLON) break
      if (c < ZERO || c > NINE) this.fail('invalid string length', this.pos)
      if (digits > 0 && len === 0) this.fail('string length with a leading zero', start)
      len = len * 10 + (c - ZERO)
      if (++digits > 10) this.fail('string length too long', start)
      this.pos++
    }
    this.pos++ // colon
    if (this.pos + len > this.buf.length)
      this.fail(`string of ${len} bytes runs past the end of input`, start)
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  private list(depth: number): BencodeList {
    const out: BencodeList = []
    while (this.buf[this.pos] !== E) out.push(this.value(depth))
    this.pos++
    return out
  }

  private dict(depth: number): BencodeDict {
    const out: BencodeDict = Object.create(null)
    let previous: Buffer | undefined
    while (this.buf[this.pos] !== E) {
      const at = this.pos
      const c = this.buf[at]
      if (c === undefined) this.fail('unterminated dictionary')
      if (c < ZERO || c > NINE) this.fail('dictionary key is not a byte string', at)
      if (++this.items > this.maxItems) {
        throw new BencodeError(NgErrorCode.bencodeLimit, `more than ${this.maxItems} values`, at)
      }
      const keyBytes = this.bytes()
      if (this.strictKeyOrder && previous && Buffer.compare(previous, keyBytes) >= 0) {
        this.fail('dictionary keys out of order', at)
      }
      previous = keyBytes
      const key = keyBytes.toString('utf8')
      if (Object.hasOwn(out, key)) this.fail(`duplicate dictionary key '${key.slice(0, 64)}'`, at)
      out[key] = this.value(depth)
    }
    this.pos++
    return out
  }
}

/** Options for {@link bencode}. */
export interface BencodeEncodeOptions {
  /** Deepest nesting accepted; also what stops reference cycles. Default 32. */
  maxDepth?: number
}

/**
 * Encodes a value as bencode. Dictionary keys are written in byte order of their UTF-8 encoding (BEP 3:
 * "Keys must be strings and appear in sorted order (sorted as raw strings, not alphanumerics)"), so the
 * output is deterministic; `undefined` dictionary members are skipped, so optional fields can be
 * passed through. Booleans, floats, `null` and other non-bencodable values raise
 * `SBC_ERR_BENCODE_ENCODE`.
 */
export function bencode(value: unknown, options: BencodeEncodeOptions = {}): Buffer {
  const chunks: Buffer[] = []
  try {
    encodeInto(value, chunks, 0, options.maxDepth ?? 32)
  } catch (e) {
    // As in bdecode: a maxDepth beyond the stack's reach still ends in the typed error.
    if (isStackOverflow(e)) throw encodeError('nesting deeper than the stack allows')
    throw e
  }
  return Buffer.concat(chunks)
}

function encodeError(message: string): BencodeError {
  return new BencodeError(NgErrorCode.bencodeEncode, message)
}

function encodeInto(value: unknown, out: Buffer[], depth: number, maxDepth: number): void {
  if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8')
    out.push(Buffer.from(`${b.length}:`, 'latin1'), b)
  } else if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    out.push(Buffer.from(`${value.byteLength}:`, 'latin1'), Buffer.from(value))
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw encodeError(`cannot bencode the non-integer number ${value}`)
    out.push(Buffer.from(`i${value === 0 ? 0 : value}e`, 'latin1')) // -0 is written as i0e
  } else if (typeof value === 'bigint') {
    out.push(Buffer.from(`i${value}e`, 'latin1'))
  } else if (Array.isArray(value)) {
    if (depth >= maxDepth) throw encodeError(`nesting deeper than ${maxDepth} (or a cycle)`)
    out.push(Buffer.from('l', 'latin1'))
    for (const item of value) encodeInto(item, out, depth + 1, maxDepth)
    out.push(Buffer.from('e', 'latin1'))
  } else if (typeof value === 'object' && value !== null) {
    if (depth >= maxDepth) throw encodeError(`nesting deeper than ${maxDepth} (or a cycle)`)
    const entries: [Buffer, unknown][] = []
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key]
      if (v !== undefined) entries.push([Buffer.from(key, 'utf8'), v])
    }
    entries.sort((a, b) => Buffer.compare(a[0], b[0]))
    out.push(Buffer.from('d', 'latin1'))
    for (const [k, v] of entries) {
      out.push(Buffer.from(`${k.length}:`, 'latin1'), k)
      encodeInto(v, out, depth + 1, maxDepth)
    }
    out.push(Buffer.from('e', 'latin1'))
  } else {
    throw encodeError(`cannot bencode a value of type ${value === null ? 'null' : typeof value}`)
  }
}
