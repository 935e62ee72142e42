import type { HeaderField } from './message.ts'
import { hasNonAscii } from './scan.ts'

/**
 * A header field read by `parse()`. Its value is cut from the parsed text only when first read:
 * most headers of a message are never looked at by an SBC, and slicing every value measured as a
 * sizeable share of parse time.
 */
export class HeaderLine implements HeaderField {
  readonly name: string
  readonly key: string
  readonly rawStart: number
  readonly rawEnd: number
  parsed: unknown
  // The parsed text until the value is first read, the value after. The value's bounds are found
  // again from the line's when it is read rather than kept: two fields fewer on every line of every
  // message (8 bytes each), for a rescan of a few octets on the few lines that are read as text.
  #text: string
  #state: number

  /**
   * @param src the latin1-decoded message; `rawStart`..`rawEnd` the whole line with its CRLF;
   * `utf8` whether non-ASCII octets are to be decoded as UTF-8.
   */
  constructor(name: string, key: string, src: string, rawStart: number, rawEnd: number, utf8: boolean) {
    this.name = name
    this.key = key
    this.rawStart = rawStart
    this.rawEnd = rawEnd
    this.#text = src
    this.#state = utf8 ? RAW_UTF8 : RAW
    this.parsed = undefined
  }

  /** The raw value (folding kept, outer whitespace trimmed). */
  get value(): string {
    const state = this.#state
    if (state === VALUE) return this.#text
    const src = this.#text
    // As parse() found them: the name is a token, so the first colon ends it; whitespace (folding
    // included) around the value is not part of it.
    const le = this.rawEnd - 2
    let vs = src.indexOf(':', this.rawStart) + 1
    while (vs < le && isWsCode(src.charCodeAt(vs))) vs++
    let ve = le
    while (ve > vs && isWsCode(src.charCodeAt(ve - 1))) ve--
    let v = src.slice(vs, ve)
    if (state === RAW_UTF8 && hasNonAscii(v)) v = Buffer.from(v, 'latin1').toString('utf8')
    this.#text = v
    this.#state = VALUE
    return v
  }
}

const RAW = 0
const RAW_UTF8 = 1
const VALUE = 2

function isWsCode(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10
}
