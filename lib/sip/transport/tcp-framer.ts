import { SipTransportError, TransportErrorCode } from './errors.ts'

const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HT = 0x09
const COLON = 0x3a
const EMPTY = Buffer.alloc(0)
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')

/** What the framer calls. Handlers may call `close()` on the framer; nothing more is emitted then. */
export interface TcpFramerHandlers {
  /** One whole SIP message: start line, headers, and exactly Content-Length body bytes. */
  onMessage(bytes: Buffer): void
  /**
   * A keep-alive ping (CRLFCRLF) arrived between messages; the connection owner answers with a
   * single CRLF pong.
   */
  onPing(): void
  /** A framing error; the framer is dead afterwards and the owner closes the connection. */
  onError(error: SipTransportError): void
}

/** Limits of the framer. */
export interface TcpFramerOptions {
  /** Largest accepted message, headers plus body, in bytes. Default 65,535. */
  readonly maxMessageSize?: number
}

/**
 * Splits a SIP byte stream (TCP or TLS) into messages by Content-Length, without parsing them.
 *
 * @remarks
 * RFC 3261 §18.3 (https://www.rfc-editor.org/rfc/rfc3261#section-18.3): "In the case of
 * stream-oriented transports such as TCP, the Content-Length header field indicates the size of the
 * body. All stream-oriented transports MUST use Content-Length." A message without one cannot be
 * delimited, so it is a framing error and the connection is closed.
 *
 * RFC 3261 §7.5 (https://www.rfc-editor.org/rfc/rfc3261#section-7.5): "Implementations processing
 * SIP messages over stream-oriented transports MUST ignore any CRLF appearing before the start-line".
 *
 * RFC 5626 §3.5.1 (https://www.rfc-editor.org/rfc/rfc5626#section-3.5.1): "the client periodically
 * sends a double-CRLF (the 'ping') then waits to receive a single CRLF (the 'pong')". Every pair of
 * CRLFs between messages is a ping; a lone CRLF before a start line is a pong and is ignored. The
 * count survives chunk boundaries, so the result does not depend on how the stream is split.
 */
export class TcpFramer {
  readonly #handlers: TcpFramerHandlers
  readonly #maxMessageSize: number
  #buf: Buffer = EMPTY
  /** Offset from which to search for the end of the header section (avoids rescanning). */
  #scanFrom = 0
  /** Total length of the message at the head of `#buf` once its headers are complete, else -1. */
  #need = -1
  /** CRLFs seen since the last message or ping. */
  #crlfs = 0
  #closed = false

  constructor(handlers: TcpFramerHandlers, options: TcpFramerOptions = {}) {
    this.#handlers = handlers
    this.#maxMessageSize = options.maxMessageSize ?? 65_535
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#buf.length
  }

  /** Stops the framer; later pushes are ignored. */
  close(): void {
    this.#closed = true
    this.#buf = EMPTY
  }

  /** Feeds the next chunk of the stream. Never throws. */
  push(chunk: Buffer): void {
    if (this.#closed || chunk.length === 0) return
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    while (!this.#closed && this.#buf.length > 0) {
      if (this.#need < 0 && !this.#readHead()) return
      if (this.#buf.length < this.#need) return
      const message = this.#buf.subarray(0, this.#need)
      this.#buf = this.#buf.subarray(this.#need)
      this.#need = -1
      this.#scanFrom = 0
      this.#handlers.onMessage(message)
    }
  }

  /** Skips keep-alives and locates the header end; false when more bytes are needed or on error. */
  #readHead(): boolean {
    const buf = this.#buf
    let i = 0
    while (i + 1 < buf.length && buf[i] === CR && buf[i + 1] === LF) {
      i += 2
      if (++this.#crlfs === 2) {
        this.#crlfs = 0
        this.#handlers.onPing()
        if (this.#closed) return false
      }
    }
    if (i > 0) {
      this.#buf = buf.subarray(i)
      this.#scanFrom = 0
    }
    const rest = this.#buf
    if (rest.length === 0 || (rest.length === 1 && rest[0] === CR)) return false
    // A start line begins: any lone CRLF before it was a pong.
    this.#crlfs = 0
    const end = rest.indexOf(CRLFCRLF, this.#scanFrom)
    if (end < 0) {
      if (rest.length > this.#maxMessageSize) {
        this.#fail(TransportErrorCode.messageTooLarge, `header section exceeds ${this.#maxMessageSize} bytes`)
      } else {
        this.#scanFrom = Math.max(0, rest.length - 3)
      }
      return false
    }
    const contentLength = scanContentLength(rest, end + 2)
    if (typeof contentLength === 'string') {
      this.#fail(TransportErrorCode.badContentLength, contentLength)
      return false
    }
    const total = end + 4 + contentLength
    if (total > this.#maxMessageSize) {
      this.#fail(
        TransportErrorCode.messageTooLarge,
        `message of ${total} bytes exceeds ${this.#maxMessageSize}`,
      )
      return false
    }
    this.#need = total
    return true
  }

  #fail(code: TransportErrorCode, message: string): void {
    this.close()
    this.#handlers.onError(new SipTransportError(code, message))
  }
}

const CONTENT_LENGTH = Buffer.from('content-length', 'latin1')

/**
 * Reads the Content-Length (or compact `l`, RFC 3261 §7.3.3) value from a header section that ends
 * at `headerEnd` (just past the last header line's CRLF). Returns the length, or a reason string.
 * Several headers with the same value are tolerated; conflicting values are not.
 */
export function scanContentLength(buf: Buffer, headerEnd: number): number | string {
  let found = -1
  // Skip the start line.
  let p = buf.indexOf(LF) + 1
  while (p > 0 && p < headerEnd) {
    const lineEnd = buf.indexOf(LF, p)
    const next = lineEnd < 0 ? headerEnd : lineEnd + 1
    const first = buf[p]
    if (first !== SP && first !== HT) {
      const value = contentLengthAt(buf, p, headerEnd)
      if (value === -2) return 'Content-Length is not a number'
      if (value >= 0) {
        if (found >= 0 && found !== value) return 'conflicting Content-Length values'
        found = value
      }
    }
    p = next
  }
  return found >= 0 ? found : 'missing Content-Length'
}

/** -1: not a Content-Length line; -2: a Content-Length line with a bad value; else the value. */
function contentLengthAt(buf: Buffer, start: number, end: number): number {
  let p = start
  let matchedLong = true
  let k = 0
  while (p < end) {
    const c = buf[p]!
    if (c === COLON || c === SP || c === HT) break
    const lower = c >= 0x41 && c <= 0x5a ? c | 0x20 : c
    if (matchedLong && lower !== CONTENT_LENGTH[k]) matchedLong = false
    k++
    p++
  }
  const isLong = matchedLong && k === CONTENT_LENGTH.length
  const isCompact = k === 1 && (buf[start]! | 0x20) === 0x6c
  if (!isLong && !isCompact) return -1
  p = skipLws(buf, p, end)
  if (buf[p] !== COLON) return -1
  p = skipLws(buf, p + 1, end)
  let value = 0
  let digits = 0
  while (p < end && buf[p]! >= 0x30 && buf[p]! <= 0x39) {
    value = value * 10 + (buf[p]! - 0x30)
    digits++
    p++
  }
  if (digits === 0 || digits > 9) return -2
  p = skipLws(buf, p, end)
  return p >= end || buf[p] === CR ? value : -2
}

/** Skips SP/HT and folded line breaks (CRLF followed by SP/HT, RFC 3261 §7.3.1). */
function skipLws(buf: Buffer, from: number, end: number): number {
  let p = from
  while (p < end) {
    const c = buf[p]
    if (c === SP || c === HT) p++
    else if (c === CR && buf[p + 1] === LF && (buf[p + 2] === SP || buf[p + 2] === HT)) p += 3
    else break
  }
  return p
}
