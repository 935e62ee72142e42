import type { SipMessage } from './message.ts'
import { hasNonAscii } from './scan.ts'

// Strings built by the library are Unicode; the wire form is UTF-8 (RFC 3261 §7.3.1 TEXT-UTF8).
// The header section is assembled as a latin1 "byte string" (one char per octet), so untouched
// lines taken from the parsed source (already octets) and new lines mix without re-encoding.
function octets(s: string): string {
  return hasNonAscii(s) ? Buffer.from(s, 'utf8').toString('latin1') : s
}

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

/**
 * A message with no line from a parsed source (built by `createResponse` or from scratch): every
 * string is Unicode, so the whole header section is encoded as UTF-8 at once, with no per-line
 * check for non-ASCII.
 */
function serializeBuilt(msg: SipMessage): Buffer {
  const body = msg.body
  let head = `${msg.startLine()}\r\n`
  let lengthWritten = false
  const fields = msg.headerFields
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    if (f.key === 'content-length') {
      // One Content-Length only, and always the true one (RFC 3261 §18.3, §20.14).
      if (lengthWritten) continue
      lengthWritten = true
      head += `${f.name}: ${body.length}\r\n`
    } else head += `${f.name}: ${f.value}\r\n`
  }
  if (!lengthWritten) head += `Content-Length: ${body.length}\r\n`
  head += '\r\n'
  const headLength = Buffer.byteLength(head, 'utf8')
  const out = Buffer.allocUnsafe(headLength + body.length)
  out.write(head, 0, headLength, 'utf8')
  body.copy(out, headLength)
  return out
}

/** An edited parsed message: untouched lines are copied from the source as they came. */
function serializeEdited(msg: SipMessage): Buffer {
  const src = msg.source
  const body = msg.body
  let head = `${octets(msg.startLine())}\r\n`
  let lengthWritten = false
  // Untouched lines are copied from the source text, and consecutive ones (the usual case: an SBC
  // changes a few lines) as one slice, so a 17-line INVITE with 3 edits costs 4 or 5 slices.
  let runStart = -1
  let runEnd = -1
  const fields = msg.headerFields
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    let keep = f.rawStart >= 0
    if (f.key === 'content-length') {
      // One Content-Length only, and always the true one (RFC 3261 §18.3, §20.14).
      if (lengthWritten) continue
      lengthWritten = true
      keep &&= f.parsed === body.length
    }
    if (keep) {
      if (f.rawStart === runEnd) {
        runEnd = f.rawEnd
        continue
      }
      if (runStart >= 0) head += src.slice(runStart, runEnd)
      runStart = f.rawStart
      runEnd = f.rawEnd
      continue
    }
    if (runStart >= 0) head += src.slice(runStart, runEnd)
    runStart = -1
    runEnd = -1
    head += f.key === 'content-length' ? `${f.name}: ${body.length}\r\n` : `${f.name}: ${octets(f.value)}\r\n`
  }
  if (runStart >= 0) head += src.slice(runStart, runEnd)
  if (!lengthWritten) head += `Content-Length: ${body.length}\r\n`
  head += '\r\n'
  const out = Buffer.allocUnsafe(head.length + body.length)
  out.write(head, 0, 'latin1')
  body.copy(out, head.length)
  return out
}
