import { SdpError, SdpErrorCode } from './errors.ts'

/** One `<type>=<value>` line, kept verbatim with its line ending so unmodified bodies round-trip. */
export interface SdpLine {
  type: string
  value: string
  /** `\r\n`, `\n`, or `''` for a last line without terminator. */
  eol: string
}

/** Limits applied by {@link SessionDescription.parse}. */
export interface SdpParseOptions {
  /** Default 65,535 bytes. */
  maxBytes?: number
  /** Default 64 media sections. */
  maxMedia?: number
}

/** The `o=` line (RFC 8866 §5.2). `sessionVersion` is kept as a string: it may exceed 2^53. */
export interface SdpOrigin {
  username: string
  sessionId: string
  sessionVersion: string
  netType: string
  addrType: string
  address: string
}

/** A `c=` line (RFC 8866 §5.7), e.g. `IN IP4 192.0.2.1`. */
export interface SdpConnection {
  netType: string
  addrType: string
  address: string
}

/** Tracks whether anything was edited, shared by the description and its media sections. */
interface Revision {
  dirty: boolean
}

const LINE = /^([a-z])=(.*)$/
const MEDIA = /^(\S+) (\d+)(?:\/(\d+))? (\S+)((?: \S+)*)$/
const CONNECTION = /^(\S+) (\S+) (\S+)$/
const ORIGIN = /^(\S+) (\S+) (\d+) (\S+) (\S+) (\S+)$/

/**
 * Line-oriented access shared by the session part and each media section: the lines stay the
 * source of truth, so lines we do not understand survive a rewrite untouched.
 */
export class SdpLines {
  /** Lines after the `m=` line (media section) or after `v=` (session part), in order. */
  readonly lines: SdpLine[]
  protected readonly revision: Revision

  constructor(lines: SdpLine[], revision: Revision) {
    this.lines = lines
    this.revision = revision
  }

  /** Marks the description as edited, so it serialises canonically. */
  protected touch(): void {
    this.revision.dirty = true
  }

  /** Values of all `a=<name>` / `a=<name>:<value>` lines; flag attributes give `''`. */
  attributes(name: string): string[] {
    const out: string[] = []
    for (const l of this.lines) {
      if (l.type !== 'a') continue
      const v = attributeValue(l.value, name)
      if (v !== undefined) out.push(v)
    }
    return out
  }

  /** The first `a=<name>` value, or `undefined`. */
  attribute(name: string): string | undefined {
    return this.attributes(name)[0]
  }

  /** Whether `a=<name>` is present. */
  hasAttribute(name: string): boolean {
    return this.attribute(name) !== undefined
  }

  /** Removes `a=<name>` lines for which `filter(value)` is true (all of them by default). */
  removeAttributes(name: string, filter: (value: string) => boolean = () => true): number {
    let removed = 0
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i]
      if (l?.type !== 'a') continue
      const v = attributeValue(l.value, name)
      if (v !== undefined && filter(v)) {
        this.lines.splice(i, 1)
        removed++
      }
    }
    if (removed > 0) this.touch()
    return removed
  }

  /**
   * Appends `a=<name>[:<value>]` after the last line of the same attribute if there is one, else at
   * the end (RFC 8866 §5 puts attributes last in each part).
   */
  addAttribute(name: string, value?: string): void {
    const line: SdpLine = { type: 'a', value: value === undefined ? name : `${name}:${value}`, eol: '\r\n' }
    let at = -1
    for (let i = 0; i < this.lines.length; i++) {
      const l = this.lines[i]
      if (l?.type === 'a' && attributeValue(l.value, name) !== undefined) at = i
    }
    if (at >= 0) this.lines.splice(at + 1, 0, line)
    else this.lines.push(line)
    this.touch()
  }

  /** Replaces all `a=<name>` lines by one (in place of the first), or adds it. */
  setAttribute(name: string, value?: string): void {
    const matching: number[] = []
    for (const [i, l] of this.lines.entries()) {
      if (l.type === 'a' && attributeValue(l.value, name) !== undefined) matching.push(i)
    }
    const [first, ...rest] = matching
    const line = first === undefined ? undefined : this.lines[first]
    if (!line) {
      this.addAttribute(name, value)
      return
    }
    line.value = value === undefined ? name : `${name}:${value}`
    for (const i of rest.reverse()) this.lines.splice(i, 1)
    this.touch()
  }

  /** The `c=` line of this part, if any. */
  get connection(): SdpConnection | undefined {
    const l = this.lines.find((x) => x.type === 'c')
    return l ? parseConnection(l.value) : undefined
  }

  /** Sets (or inserts) this part's `c=` line. */
  setConnection(address: string, addrType: 'IP4' | 'IP6' = address.includes(':') ? 'IP6' : 'IP4'): void {
    const value = `IN ${addrType} ${address}`
    const existing = this.lines.find((x) => x.type === 'c')
    if (existing) existing.value = value
    else this.lines.splice(this.connectionInsertIndex(), 0, { type: 'c', value, eol: '\r\n' })
    this.touch()
  }

  /** RFC 8866 §5 order: c= follows the i=/u=/e=/p= lines and precedes b=, t=, k=, a=. */
  protected connectionInsertIndex(): number {
    const before = new Set(['o', 's', 'i', 'u', 'e', 'p'])
    let i = 0
    while (i < this.lines.length && before.has(this.lines[i]?.type ?? '')) i++
    return i
  }
}

/** Returns the value of attribute line text `name[:value]` if it is attribute `name`. */
function attributeValue(text: string, name: string): string | undefined {
  if (text === name) return ''
  if (text.length > name.length && text.startsWith(name) && text.charCodeAt(name.length) === 0x3a) {
    return text.slice(name.length + 1)
  }
  return undefined
}

function parseConnection(value: string, line?: number): SdpConnection {
  const m = CONNECTION.exec(value)
  if (!m) throw new SdpError(SdpErrorCode.syntax, `malformed c= line '${value.slice(0, 80)}'`, line)
  return { netType: m[1] ?? '', addrType: m[2] ?? '', address: m[3] ?? '' }
}

/** One `m=` section (RFC 8866 §5.14) with the lines that follow it. */
export class MediaSection extends SdpLines {
  /** `audio`, `video`, `image`, `application`, ... */
  media: string
  port: number
  /** The `/<number of ports>` suffix, if present. */
  portCount: number | undefined
  /** `RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`, `udptl`, ... */
  proto: string
  /** Payload types for RTP profiles, as strings in offer order. */
  formats: string[]
  /** The original m= value and the values it was parsed from, to keep it verbatim when unchanged. */
  private readonly original: { text: string; key: string }
  /** The m= line's own line ending. */
  readonly eol: string

  constructor(mLine: SdpLine, lines: SdpLine[], revision: Revision, lineNo?: number) {
    super(lines, revision)
    const m = MEDIA.exec(mLine.value)
    if (!m) throw new SdpError(SdpErrorCode.syntax, `malformed m= line '${mLine.value.slice(0, 80)}'`, lineNo)
    this.media = m[1] ?? ''
    this.port = Number(m[2])
    this.portCount = m[3] === undefined ? undefined : Number(m[3])
    this.proto = m[4] ?? ''
    this.formats = (m[5] ?? '').split(' ').filter((f) => f !== '')
    if (this.port > 65_535 || (this.portCount !== undefined && this.portCount < 1)) {
      throw new SdpError(SdpErrorCode.syntax, `m= port out of range in '${mLine.value.slice(0, 80)}'`, lineNo)
    }
    this.eol = mLine.eol
    this.original = { text: mLine.value, key: this.key() }
  }

  private key(): string {
    return `${this.media} ${this.port}${this.portCount === undefined ? '' : `/${this.portCount}`} ${this.proto}${this.formats.map((f) => ` ${f}`).join('')}`
  }

  /** The m= value as it is now: verbatim if unchanged, canonical otherwise. */
  mLineValue(): string {
    const k = this.key()
    return k === this.original.key ? this.original.text : k
  }

  /** Whether the m= fields were edited since parsing. */
  isMLineChanged(): boolean {
    return this.key() !== this.original.key
  }

  /** Whether the profile is an RTP one (formats are payload types). */
  get isRtp(): boolean {
    return this.proto.includes('RTP/')
  }
}

/**
 * A parsed SDP body (RFC 8866). `toString()` returns the input byte for byte when nothing was
 * edited, and a canonical CRLF-terminated body after any edit.
 *
 * @remarks
 * RFC 8866 §5: "The sequence CRLF (0x0d0a) is used to end a line, although parsers SHOULD be tolerant
 * and also accept lines terminated with a single newline character." Both are accepted.
 */
export class SessionDescription extends SdpLines {
  /** The value of the `v=` line ("0"). */
  readonly version: string
  readonly media: MediaSection[]
  private readonly raw: string

  private constructor(
    raw: string,
    vLine: SdpLine,
    session: SdpLine[],
    media: MediaSection[],
    revision: Revision,
  ) {
    super(session, revision)
    this.raw = raw
    this.version = vLine.value
    this.media = media
  }

  /** Parses an SDP body; throws {@link SdpError} on malformed input. */
  static parse(text: string, options: SdpParseOptions = {}): SessionDescription {
    const maxBytes = options.maxBytes ?? 65_535
    const maxMedia = options.maxMedia ?? 64
    if (Buffer.byteLength(text, 'utf8') > maxBytes) {
      throw new SdpError(SdpErrorCode.limit, `SDP larger than ${maxBytes} bytes`)
    }
    const lines: SdpLine[] = []
    const lineNos: number[] = []
    let pos = 0
    let lineNo = 0
    while (pos < text.length) {
      lineNo++
      const nl = text.indexOf('\n', pos)
      const end = nl < 0 ? text.length : nl
      const cr = end > pos && text.charCodeAt(end - 1) === 0x0d
      const content = text.slice(pos, cr ? end - 1 : end)
      const eol = nl < 0 ? '' : cr ? '\r\n' : '\n'
      pos = nl < 0 ? text.length : nl + 1
      if (content === '') {
        // Blank lines are only tolerated at the very end (some stacks append an extra CRLF).
        if (text.slice(pos).trim() === '') {
          lines.push({ type: '', value: '', eol: eol + text.slice(pos) })
          break
        }
        throw new SdpError(SdpErrorCode.syntax, 'empty line inside the SDP body', lineNo)
      }
      const m = LINE.exec(content)
      if (!m) throw new SdpError(SdpErrorCode.syntax, `malformed line '${content.slice(0, 80)}'`, lineNo)
      lines.push({ type: m[1] ?? '', value: m[2] ?? '', eol })
      lineNos.push(lineNo)
    }
    const first = lines[0]
    if (first?.type !== 'v') throw new SdpError(SdpErrorCode.missing, 'SDP does not start with v=', 1)
    if (first.value !== '0')
      throw new SdpError(SdpErrorCode.syntax, `unsupported SDP version '${first.value}'`, 1)
    const revision: Revision = { dirty: false }
    const session: SdpLine[] = []
    const media: MediaSection[] = []
    let current: { m: SdpLine; lines: SdpLine[]; no: number } | undefined
    const flush = () => {
      if (!current) return
      if (media.length >= maxMedia)
        throw new SdpError(SdpErrorCode.limit, `more than ${maxMedia} media sections`)
      media.push(new MediaSection(current.m, current.lines, revision, current.no))
    }
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i] as SdpLine
      if (l.type === 'm') {
        flush()
        current = { m: l, lines: [], no: lineNos[i] ?? 0 }
      } else if (current) current.lines.push(l)
      else session.push(l)
    }
    flush()
    const sdp = new SessionDescription(text, first, session, media, revision)
    sdp.validate()
    return sdp
  }

  private validate(): void {
    const o = this.lines.find((l) => l.type === 'o')
    if (!o) throw new SdpError(SdpErrorCode.missing, 'SDP has no o= line')
    if (!ORIGIN.exec(o.value))
      throw new SdpError(SdpErrorCode.syntax, `malformed o= line '${o.value.slice(0, 80)}'`)
    if (!this.lines.some((l) => l.type === 's'))
      throw new SdpError(SdpErrorCode.missing, 'SDP has no s= line')
    if (!this.lines.some((l) => l.type === 't'))
      throw new SdpError(SdpErrorCode.missing, 'SDP has no t= line')
    const sessionC = this.lines.find((l) => l.type === 'c')
    if (sessionC) parseConnection(sessionC.value)
    for (const [i, m] of this.media.entries()) {
      const c = m.lines.find((l) => l.type === 'c')
      if (c) parseConnection(c.value)
      // RFC 8866 §5.7: a c= line is required in each media description or at session level.
      else if (!sessionC && m.port !== 0) {
        throw new SdpError(
          SdpErrorCode.missing,
          `media section ${i + 1} has no c= line and there is no session c=`,
        )
      }
    }
  }

  /** Whether any edit happened since parsing. */
  get modified(): boolean {
    return this.revision.dirty || this.media.some((m) => m.isMLineChanged())
  }

  /** The `o=` line. */
  get origin(): SdpOrigin {
    const l = this.lines.find((x) => x.type === 'o')
    const m = ORIGIN.exec(l?.value ?? '')
    if (!m) throw new SdpError(SdpErrorCode.missing, 'SDP has no valid o= line')
    return {
      username: m[1] ?? '',
      sessionId: m[2] ?? '',
      sessionVersion: m[3] ?? '',
      netType: m[4] ?? '',
      addrType: m[5] ?? '',
      address: m[6] ?? '',
    }
  }

  /** Replaces fields of the `o=` line. */
  setOrigin(patch: Partial<SdpOrigin>): void {
    const o = { ...this.origin, ...patch }
    const l = this.lines.find((x) => x.type === 'o')
    if (l)
      l.value = `${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addrType} ${o.address}`
    this.touch()
  }

  /**
   * Increments the `o=` session version. RFC 3264 §8: "the version in the origin field MUST increment
   * by one from the previous SDP" whenever a modified offer is sent.
   */
  bumpVersion(): void {
    this.setOrigin({ sessionVersion: (BigInt(this.origin.sessionVersion) + 1n).toString() })
  }

  /** The effective connection of a media section: its own c=, else the session's. */
  effectiveConnection(media: MediaSection): SdpConnection | undefined {
    return media.connection ?? this.connection
  }

  /** Serialises: the input verbatim if unmodified, else canonical CRLF lines. */
  override toString(): string {
    if (!this.modified) return this.raw
    const out: string[] = [`v=${this.version}\r\n`]
    for (const l of this.lines) if (l.type !== '') out.push(`${l.type}=${l.value}\r\n`)
    for (const m of this.media) {
      out.push(`m=${m.mLineValue()}\r\n`)
      for (const l of m.lines) if (l.type !== '') out.push(`${l.type}=${l.value}\r\n`)
    }
    return out.join('')
  }
}
