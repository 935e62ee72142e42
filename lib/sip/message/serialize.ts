import type { SipMessage } from './message.ts'
import { hasNonAscii } from './scan.ts'

// Strings built by the library are Unicode; the wire form is UTF-8 (RFC 3261 §7.3.1 TEXT-UTF8).
// Untouched lines of a parsed message are copied as the octets they came as.

/**
 * The wire form of a message (RFC 3261 §7). An unmodified parsed message gives back exactly the
 * octets it was parsed from. Otherwise: the start line, each untouched header line as it came,
 * each new or changed line as `Name: value`, Content-Length set to the body length (in place of
 * the first Content-Length line, or appended), an empty line and the body.
 */
export function serialize(msg: SipMessage): Buffer {
  const raw = msg.raw
  if (raw !== undefined) return raw
  const fields = msg.headerFields
  let fromSource = false
  for (let i = 0; i < fields.length; i++) {
    if (fields[i]!.rawStart >= 0) {
      fromSource = true
      break
    }
  }
  return fromSource ? serializeEdited(msg) : serializeBuilt(msg)
}

// The header section is written straight into the output buffer, in two passes over the fields
// (the first only adds up lengths): building it as one string first allocated that string twice,
// as concatenated pieces and again flattened for the write.

/** Octets of `s` in UTF-8. */
function utf8Length(s: string): number {
  return hasNonAscii(s) ? Buffer.byteLength(s, 'utf8') : s.length
}

/** Writes `name: value CRLF` at `pos` (when `out` is given); returns the position after it. */
function line(name: string, value: string, out: Buffer | undefined, pos: number): number {
  if (out === undefined) return pos + name.length + utf8Length(value) + 4
  pos += out.write(name, pos, 'latin1')
  out[pos++] = 58
  out[pos++] = 32
  pos += out.write(value, pos, 'utf8')
  out[pos++] = 13
  out[pos++] = 10
  return pos
}

/** Writes the start line and its CRLF at 0 (when `out` is given); returns the position after it. */
function startLine(text: string, out: Buffer | undefined): number {
  const n = out === undefined ? utf8Length(text) : out.write(text, 0, 'utf8')
  if (out !== undefined) {
    out[n] = 13
    out[n + 1] = 10
  }
  return n + 2
}

/** Writes the empty line and the body at `pos` (when `out` is given). */
function finish(body: Buffer, out: Buffer | undefined, pos: number): void {
  if (out === undefined) return
  out[pos] = 13
  out[pos + 1] = 10
  body.copy(out, pos + 2)
}

/** A message with no line from a parsed source (built by `createResponse` or from scratch). */
function serializeBuilt(msg: SipMessage): Buffer {
  const body = msg.body
  const first = msg.startLine()
  const head = builtHead(msg, body.length, undefined, startLine(first, undefined))
  const out = Buffer.allocUnsafe(head + 2 + body.length)
  finish(body, out, builtHead(msg, body.length, out, startLine(first, out)))
  return out
}

function builtHead(msg: SipMessage, bodyLength: number, out: Buffer | undefined, pos: number): number {
  let lengthWritten = false
  for (const f of msg.headerFields) {
    if (f.key === 'content-length') {
      // One Content-Length only, and always the true one (RFC 3261 §18.3, §20.14).
      if (lengthWritten) continue
      lengthWritten = true
      pos = line(f.name, String(bodyLength), out, pos)
    } else pos = line(f.name, f.value, out, pos)
  }
  if (!lengthWritten) pos = line('Content-Length', String(bodyLength), out, pos)
  return pos
}

/** An edited parsed message: untouched lines are copied from the source as they came. */
function serializeEdited(msg: SipMessage): Buffer {
  const body = msg.body
  const first = msg.startLine()
  const head = editedHead(msg, body.length, undefined, startLine(first, undefined))
  const out = Buffer.allocUnsafe(head + 2 + body.length)
  finish(body, out, editedHead(msg, body.length, out, startLine(first, out)))
  return out
}

/** Copies source octets `a`..`b` (when `out` is given, and `a` is not -1). */
function copy(src: string, a: number, b: number, out: Buffer | undefined, pos: number): number {
  if (a < 0) return pos
  // The source is latin1-decoded octets, so latin1 writes them back unchanged; a slice of a flat
  // string is a view, not a copy.
  if (out !== undefined) out.write(src.slice(a, b), pos, 'latin1')
  return pos + b - a
}

function editedHead(msg: SipMessage, bodyLength: number, out: Buffer | undefined, pos: number): number {
  const src = msg.source
  let lengthWritten = false
  // Untouched lines are copied from the source text, and consecutive ones (the usual case: an SBC
  // changes a few lines) in one piece, so a 17-line INVITE with 3 edits costs 4 or 5 copies.
  let runStart = -1
  let runEnd = -1
  for (const f of msg.headerFields) {
    let keep = f.rawStart >= 0
    if (f.key === 'content-length') {
      // One Content-Length only, and always the true one (RFC 3261 §18.3, §20.14).
      if (lengthWritten) continue
      lengthWritten = true
      keep &&= f.parsed === bodyLength
    }
    if (keep) {
      if (f.rawStart === runEnd) {
        runEnd = f.rawEnd
        continue
      }
      pos = copy(src, runStart, runEnd, out, pos)
      runStart = f.rawStart
      runEnd = f.rawEnd
      continue
    }
    pos = copy(src, runStart, runEnd, out, pos)
    runStart = -1
    runEnd = -1
    pos = line(f.name, f.key === 'content-length' ? String(bodyLength) : f.value, out, pos)
  }
  pos = copy(src, runStart, runEnd, out, pos)
  if (!lengthWritten) pos = line('Content-Length', String(bodyLength), out, pos)
  return pos
}
