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
  readonly #src: string
  readonly #vs: number
  readonly #ve: number
  readonly #utf8: boolean
  #value: string | undefined

  /**
   * @param src the latin1-decoded message; `vs`..`ve` the trimmed value; `rawStart`..`rawEnd` the
   * whole line with its CRLF; `utf8` whether non-ASCII octets are to be decoded as UTF-8.
   */
  constructor(
    name: string,
    key: string,
    src: string,
    vs: number,
    ve: number,
    rawStart: number,
    rawEnd: number,
    utf8: boolean,
  ) {
    this.name = name
    this.key = key
    this.rawStart = rawStart
    this.rawEnd = rawEnd
    this.#src = src
    this.#vs = vs
    this.#ve = ve
    this.#utf8 = utf8
    this.#value = undefined
    this.parsed = undefined
  }

  /** The raw value (folding kept, outer whitespace trimmed). */
  get value(): string {
    let v = this.#value
    if (v === undefined) {
      v = this.#src.slice(this.#vs, this.#ve)
      if (this.#utf8 && hasNonAscii(v)) v = Buffer.from(v, 'latin1').toString('utf8')
      this.#value = v
    }
    return v
  }
}
