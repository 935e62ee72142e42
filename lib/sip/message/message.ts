import { SipMessageError } from '../errors.ts'
import type { Uri } from '../uri/uri.ts'
import { parseUri, stringifyUri } from '../uri/uri.ts'
import type { ContentType } from './headers/content-type.ts'
import type { CSeq } from './headers/cseq.ts'
import { headerKey } from './headers/header-names.ts'
import type { HeaderTypes, KnownHeader } from './headers/header-table.ts'
import { HEADER_TABLE } from './headers/header-table.ts'
import type { NameAddr } from './headers/name-addr.ts'
import { nameAddrTag } from './headers/name-addr.ts'
import { setParam } from './headers/params.ts'
import type { Via } from './headers/via.ts'
import { stringifyVia } from './headers/via.ts'
import { splitCommas } from './scan.ts'

/**
 * One header line. `value` is the raw field value: leading and trailing whitespace removed,
 * folding (CRLF + WSP) kept, several comma-separated values kept together. Parsed forms are cached
 * per field and built only when asked for.
 */
export interface HeaderField {
  /** The name as written (`v`, `MaX-fOrWaRdS`) or as given to `addHeader`. */
  readonly name: string
  /** Canonical key: lower case, compact form expanded (`via`, `max-forwards`). */
  readonly key: string
  /** The raw value. */
  readonly value: string
  /** Offset of the line in the parsed source, or -1 for a field created or changed since. @internal */
  readonly rawStart: number
  /** Offset just after the line's CRLF in the parsed source. @internal */
  readonly rawEnd: number
  /** Parse cache. @internal */
  parsed: unknown
}

/** Where `addHeader` puts a new field relative to existing fields of the same name. */
export type HeaderPosition = 'first' | 'last'

const EMPTY: Buffer = Buffer.alloc(0)

function checkValue(value: string): void {
  // A CR or LF is allowed only as folding (CRLF followed by SP/HT, RFC 3261 §7.3.1); anything else
  // would let a caller inject header lines.
  for (let i = value.indexOf('\r'); i >= 0; i = value.indexOf('\r', i + 1)) {
    const n = value.charCodeAt(i + 2)
    if (value.charCodeAt(i + 1) !== 10 || (n !== 32 && n !== 9))
      throw new SipMessageError('CR in header value')
  }
  for (let i = value.indexOf('\n'); i >= 0; i = value.indexOf('\n', i + 1)) {
    if (value.charCodeAt(i - 1) !== 13) throw new SipMessageError('LF in header value')
  }
}

function keyOf(name: string): string {
  const key = headerKey(name)
  if (key === undefined) throw new SipMessageError(`Invalid header name '${name}'`)
  return key
}

function newField(name: string, key: string, value: string, parsed: unknown = undefined): HeaderField {
  return { name, key, value, rawStart: -1, rawEnd: -1, parsed }
}

/**
 * Slots of the core headers in the array `adopt()` takes: the field of each single-valued one, and
 * the first Via and Contact lines (Contact holds {@link MANY_LINES} when there are several). @internal
 */
export const CORE_SLOTS = {
  from: 0,
  to: 1,
  'call-id': 2,
  cseq: 3,
  'max-forwards': 4,
  'content-length': 5,
  via: 6,
  contact: 7,
} as const

/** Marks a core slot whose header has more than one line. @internal */
export const MANY_LINES: HeaderField = Object.freeze(newField('', '', ''))

/**
 * What requests and responses share: the header list, the body and the typed accessors. A parsed
 * message remembers its source bytes until it is edited, so serialising it unchanged is byte-exact.
 *
 * @remarks Values returned by the typed accessors are cached parse results: treat them as
 * read-only and change a message through its methods, which keep the serialised form in step.
 */
export abstract class SipMessageBase {
  #fields: HeaderField[] = []
  #body: Buffer | undefined = EMPTY
  // While unmodified: the buffer parsed and the message's range in it. Views on it (raw, body) are
  // made only when asked for, as creating a Buffer view costs more than most header parses.
  #buf: Buffer | undefined
  #start = 0
  #bodyStart = 0
  #end = 0
  #source = ''
  // While the fields are those parse() made: the first field of each single-valued core header
  // (CORE_SLOTS), so the accessors routing calls on every message do not walk the header list.
  #core: ReadonlyArray<HeaderField | undefined> | undefined = undefined

  /** SIP-Version of the start line (`SIP/2.0`). */
  readonly version: string = 'SIP/2.0'

  /** The original bytes of the message while it is unmodified, else undefined. */
  get raw(): Buffer | undefined {
    return this.#buf?.subarray(this.#start, this.#end)
  }

  /** The latin1-decoded message the raw offsets of the fields point into. @internal */
  get source(): string {
    return this.#source
  }

  /** Adopts the result of `parse()`. @internal */
  adopt(
    buf: Buffer,
    start: number,
    bodyStart: number,
    end: number,
    source: string,
    fields: HeaderField[],
    core?: ReadonlyArray<HeaderField | undefined>,
  ): void {
    this.#buf = buf
    this.#start = start
    this.#bodyStart = bodyStart
    this.#end = end
    this.#source = source
    this.#fields = fields
    this.#core = core
    this.#body = undefined
  }

  /** Forgets the source bytes: the next serialisation is canonical. @internal */
  protected touch(): void {
    this.#core = undefined
    if (this.#buf !== undefined) {
      this.#body ??= this.#buf.subarray(this.#bodyStart, this.#end)
      this.#buf = undefined
    }
  }

  /** The start line without CRLF, as it will be written. */
  abstract startLine(): string

  /** The body bytes (a view on the parsed buffer: copy it if you keep it beyond that buffer). */
  get body(): Buffer {
    if (this.#body === undefined) this.#body = this.#buf!.subarray(this.#bodyStart, this.#end)
    return this.#body
  }

  /** Replaces the body; Content-Length is recomputed when serialising. */
  set body(b: Buffer) {
    this.touch()
    this.#body = b
  }

  /** All header fields in order. */
  get headerFields(): readonly HeaderField[] {
    return this.#fields
  }

  /** The raw value of the first field called `name` (any case, compact or long), or undefined. */
  header(name: string): string | undefined {
    const key = keyOf(name)
    // Indexed loops over the fields here and below: a for-of allocated an iterator result per field
    // in the code V8 runs for these calls (~4 kB per call in the B2BUA, sampling heap profiler).
    const fields = this.#fields
    for (let i = 0; i < fields.length; i++) if (fields[i]!.key === key) return fields[i]!.value
    return undefined
  }

  /** The raw values of every field called `name`, one per line. */
  headerValues(name: string): string[] {
    const key = keyOf(name)
    const out: string[] = []
    const fields = this.#fields
    for (let i = 0; i < fields.length; i++) if (fields[i]!.key === key) out.push(fields[i]!.value)
    return out
  }

  /** Whether a field called `name` exists. */
  hasHeader(name: string): boolean {
    return this.header(name) !== undefined
  }

  /**
   * Adds a field. With `'first'` it goes before the first field of the same name (or at the top),
   * with `'last'` after the last one (or at the end), so same-name fields stay together as
   * RFC 3261 §7.3.1 requires for combining them.
   */
  addHeader(name: string, value: string, position: HeaderPosition = 'last'): this {
    checkValue(value)
    this.#insert(newField(name, keyOf(name), value), position)
    return this
  }

  /**
   * Adds another message's field after the fields of its name, sharing its value and parse cache
   * (the value was checked or parsed when that field was made; parse caches are read-only).
   * @internal
   */
  addFieldOf(field: HeaderField): void {
    this.#insert(newField(field.name, field.key, field.value, field.parsed), 'last')
  }

  #insert(field: HeaderField, position: HeaderPosition): void {
    this.touch()
    const fields = this.#fields
    if (position === 'first') {
      const i = fields.findIndex((f) => f.key === field.key)
      fields.splice(Math.max(i, 0), 0, field)
    } else {
      let i = -1
      for (let j = fields.length - 1; j >= 0; j--) {
        if (fields[j]!.key === field.key) {
          i = j
          break
        }
      }
      if (i < 0) fields.push(field)
      else fields.splice(i + 1, 0, field)
    }
  }

  /** Replaces every field called `name` by one field with `value`, at the first one's position. */
  setHeader(name: string, value: string): this {
    checkValue(value)
    this.#set(newField(name, keyOf(name), value))
    return this
  }

  #set(field: HeaderField): void {
    this.touch()
    const fields = this.#fields
    const i = fields.findIndex((f) => f.key === field.key)
    if (i < 0) {
      fields.push(field)
      return
    }
    fields[i] = field
    for (let j = fields.length - 1; j > i; j--) if (fields[j]!.key === field.key) fields.splice(j, 1)
  }

  /** Removes every field called `name`; returns how many were removed. */
  removeHeader(name: string): number {
    const key = keyOf(name)
    const before = this.#fields.length
    this.#fields = this.#fields.filter((f) => f.key !== key)
    const removed = before - this.#fields.length
    if (removed > 0) this.touch()
    return removed
  }

  /**
   * The parsed value of a known header: for list headers the values of every line in order, for
   * the others the first line's value. Undefined when absent. Throws `SipParseError` when malformed.
   */
  parsed<K extends KnownHeader>(key: K): HeaderTypes[K] | undefined {
    const def = HEADER_TABLE[key]
    let out: unknown[] | undefined
    const fields = this.#fields
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!
      if (f.key !== key) continue
      let p = f.parsed
      if (p === undefined) {
        p = def.parse(f.value)
        f.parsed = p
      }
      if (!def.list) return p as HeaderTypes[K]
      if (out === undefined) out = p as unknown[]
      else out = out.concat(p as unknown[])
    }
    return out as HeaderTypes[K] | undefined
  }

  /**
   * Replaces a known header with a typed value, written in canonical form (one line).
   */
  setParsed<K extends KnownHeader>(key: K, value: HeaderTypes[K]): this {
    const text = HEADER_TABLE[key].stringify(value as never)
    const existing = this.#fields.find((f) => f.key === key)
    const name = existing?.name ?? displayNameOf(key)
    this.#set(newField(name, key, text, value))
    return this
  }

  /** `parsed(key)` for a single-valued core header, through the slot parse() filled in. */
  #single<K extends KnownHeader>(slot: number, key: K): HeaderTypes[K] | undefined {
    const core = this.#core
    if (core === undefined) return this.parsed(key)
    const f = core[slot]
    return f === undefined ? undefined : this.#lineValue(f, key)
  }

  /** The parsed value of one line of a known header (cached on the field). */
  #lineValue<K extends KnownHeader>(f: HeaderField, key: K): HeaderTypes[K] {
    let p = f.parsed
    if (p === undefined) {
      p = HEADER_TABLE[key].parse(f.value)
      f.parsed = p
    }
    return p as HeaderTypes[K]
  }

  /** Every Via value, top first (RFC 3261 §20.42). */
  get vias(): Via[] {
    return this.parsed('via') ?? []
  }

  /** The topmost Via value, parsing only the first Via line. */
  get topVia(): Via | undefined {
    const core = this.#core
    if (core !== undefined) {
      const f = core[CORE_SLOTS.via]
      return f === undefined ? undefined : this.#lineValue(f, 'via')[0]
    }
    const fields = this.#fields
    for (let i = 0; i < fields.length; i++)
      if (fields[i]!.key === 'via') return this.#lineValue(fields[i]!, 'via')[0]
    return undefined
  }

  /** Adds a Via value on top (RFC 3261 §16.6 step 8, §8.1.1.7) as a new Via line. */
  prependVia(via: Via): this {
    this.#insert(newField('Via', 'via', stringifyVia(via), [via]), 'first')
    return this
  }

  /**
   * Removes the topmost Via value (RFC 3261 §16.7 step 3, §18.1.2) and returns it. When the first
   * Via line holds several values, the rest of that line is kept as written.
   */
  removeTopVia(): Via | undefined {
    const i = this.#fields.findIndex((f) => f.key === 'via')
    if (i < 0) return undefined
    const f = this.#fields[i]!
    const vias = (f.parsed as Via[] | undefined) ?? HEADER_TABLE.via.parse(f.value)
    this.touch()
    if (vias.length <= 1) {
      this.#fields.splice(i, 1)
    } else {
      const cuts = splitCommas(f.value)!
      this.#fields[i] = newField(f.name, 'via', f.value.slice(cuts[2]), vias.slice(1))
    }
    return vias[0]
  }

  /** From (RFC 3261 §20.20). */
  get from(): NameAddr | undefined {
    return this.#single(CORE_SLOTS.from, 'from')
  }

  /** To (RFC 3261 §20.39). */
  get to(): NameAddr | undefined {
    return this.#single(CORE_SLOTS.to, 'to')
  }

  /** The From tag, or undefined. */
  get fromTag(): string | undefined {
    const f = this.from
    return f === undefined ? undefined : nameAddrTag(f)
  }

  /** The To tag, or undefined (out-of-dialog requests have none). */
  get toTag(): string | undefined {
    const t = this.to
    return t === undefined ? undefined : nameAddrTag(t)
  }

  /**
   * Sets the To tag (RFC 3261 §8.2.6.2), appending `;tag=` to the raw value so the rest of the
   * header stays as written.
   */
  setToTag(tag: string): this {
    const i = this.#fields.findIndex((f) => f.key === 'to')
    if (i < 0) throw new SipMessageError('No To header to tag')
    const f = this.#fields[i]!
    const to = this.parsed('to')!
    const params = to.params.map((p): [string, string | null] => [p[0], p[1]])
    setParam(params, 'tag', tag)
    const next: NameAddr = { displayName: to.displayName, uri: to.uri, params }
    const value = nameAddrTag(to) === undefined ? `${f.value};tag=${tag}` : HEADER_TABLE.to.stringify(next)
    this.touch()
    this.#fields[i] = newField(f.name, 'to', value, next)
    return this
  }

  /** Call-ID (RFC 3261 §20.8). */
  get callId(): string | undefined {
    return this.#single(CORE_SLOTS['call-id'], 'call-id')
  }

  /** CSeq (RFC 3261 §20.16). */
  get cseq(): CSeq | undefined {
    return this.#single(CORE_SLOTS.cseq, 'cseq')
  }

  /** Max-Forwards (RFC 3261 §20.22), or undefined when absent (RFC 2543 peers). */
  get maxForwards(): number | undefined {
    return this.#single(CORE_SLOTS['max-forwards'], 'max-forwards')
  }

  /** Every Contact value; empty for none and for `Contact: *` (see {@link isContactStar}). */
  get contacts(): NameAddr[] {
    const f = this.#core?.[CORE_SLOTS.contact]
    if (f !== MANY_LINES && this.#core !== undefined)
      return f === undefined ? [] : this.#lineValue(f, 'contact')
    return this.parsed('contact') ?? []
  }

  /** Whether the request carries `Contact: *` (RFC 3261 §10.2.2). */
  get isContactStar(): boolean {
    return this.header('contact') === '*'
  }

  /** Every Route value, in order. */
  get routes(): NameAddr[] {
    return this.parsed('route') ?? []
  }

  /** Every Record-Route value, in order. */
  get recordRoutes(): NameAddr[] {
    return this.parsed('record-route') ?? []
  }

  /** The Content-Length header value, or undefined when absent. */
  get contentLength(): number | undefined {
    return this.#single(CORE_SLOTS['content-length'], 'content-length')
  }

  /** Content-Type, or undefined. */
  get contentType(): ContentType | undefined {
    return this.parsed('content-type')
  }

  /** Expires header (RFC 3261 §20.19), or undefined. */
  get expires(): number | undefined {
    return this.parsed('expires')
  }
}

function displayNameOf(key: string): string {
  return DISPLAY[key] ?? key
}

const DISPLAY: Record<string, string> = {
  via: 'Via',
  from: 'From',
  to: 'To',
  contact: 'Contact',
  route: 'Route',
  'record-route': 'Record-Route',
  cseq: 'CSeq',
  'call-id': 'Call-ID',
  'max-forwards': 'Max-Forwards',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
  expires: 'Expires',
}

/** A SIP request (RFC 3261 §7.1). */
export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const
  #method: string
  #uri: Uri
  #startLine: string | undefined

  /** A new request with no headers; `uri` may be text (parsed, throws `SipParseError`). */
  constructor(method: string, uri: Uri | string) {
    super()
    this.#method = method
    this.#uri = typeof uri === 'string' ? parseUri(uri) : uri
  }

  /** Keeps the parsed start line for byte-exact output. @internal */
  adoptStartLine(line: string): void {
    this.#startLine = line
  }

  /** The method, case-sensitive (RFC 3261 §7.1). */
  get method(): string {
    return this.#method
  }

  set method(m: string) {
    this.touch()
    this.#startLine = undefined
    this.#method = m
  }

  /** The Request-URI. */
  get uri(): Uri {
    return this.#uri
  }

  set uri(u: Uri) {
    this.touch()
    this.#startLine = undefined
    this.#uri = u
  }

  startLine(): string {
    return this.#startLine ?? `${this.#method} ${stringifyUri(this.#uri)} ${this.version}`
  }
}

/** A SIP response (RFC 3261 §7.2). */
export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const
  #status: number
  #reason: string
  #startLine: string | undefined

  /** A new response with no headers. */
  constructor(status: number, reason: string) {
    super()
    if (!Number.isInteger(status) || status < 100 || status > 699) {
      throw new SipMessageError(`Status code ${status} outside 100-699`)
    }
    if (/[\r\n]/.test(reason)) throw new SipMessageError('CR or LF in reason phrase')
    this.#status = status
    this.#reason = reason
  }

  /** Keeps the parsed start line for byte-exact output. @internal */
  adoptStartLine(line: string): void {
    this.#startLine = line
  }

  /** Status-Code, 100–699. */
  get status(): number {
    return this.#status
  }

  /** Reason-Phrase (may be empty, RFC 4475 §3.1.1.13). */
  get reason(): string {
    return this.#reason
  }

  set reason(r: string) {
    if (/[\r\n]/.test(r)) throw new SipMessageError('CR or LF in reason phrase')
    this.touch()
    this.#startLine = undefined
    this.#reason = r
  }

  startLine(): string {
    return this.#startLine ?? `${this.version} ${this.#status} ${this.#reason}`
  }
}

/** A parsed or built SIP message; narrow on `kind`. */
export type SipMessage = SipRequest | SipResponse
