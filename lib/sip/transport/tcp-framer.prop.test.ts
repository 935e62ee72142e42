import assert from 'node:assert/strict'
import fc from 'fast-check'
import { TcpFramer } from './tcp-framer.ts'

/** A framed unit of the stream: a message, a ping (CRLFCRLF) or a pong (CRLF before a message). */
type Unit = { kind: 'message'; bytes: Buffer } | { kind: 'ping' } | { kind: 'pong' }

const bodyArb = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))
const headerName = fc.constantFrom('Content-Length', 'content-length', 'l', 'L', 'CONTENT-LENGTH')
const messageArb = fc
  .record({
    method: fc.constantFrom('INVITE', 'OPTIONS', 'BYE', 'MESSAGE'),
    name: headerName,
    spaces: fc.constantFrom('', ' ', '  ', '\t'),
    // Other headers, never a second (compact or long) Content-Length.
    extra: fc.array(
      fc.stringMatching(/^[A-Za-z-]{1,12}: [ -~]{0,40}$/).filter((h) => !/^(l|content-length):/i.test(h)),
      { maxLength: 6 },
    ),
    body: bodyArb,
  })
  .map(({ method, name, spaces, extra, body }) => {
    const head = [
      `${method} sip:bob@example.com SIP/2.0`,
      ...extra,
      `${name}${spaces}:${spaces}${body.length}`,
    ]
    return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body])
  })
const unitArb: fc.Arbitrary<Unit> = fc.oneof(
  { weight: 5, arbitrary: messageArb.map((bytes) => ({ kind: 'message' as const, bytes })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'ping' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'pong' as const }) },
)

/** Serialises units so that every pong is followed by a message (else it would merge into a ping). */
function streamOf(units: Unit[]): { stream: Buffer; messages: Buffer[]; pings: number } {
  const parts: Buffer[] = []
  const messages: Buffer[] = []
  let pings = 0
  for (let i = 0; i < units.length; i++) {
    const u = units[i]!
    if (u.kind === 'message') {
      parts.push(u.bytes)
      messages.push(u.bytes)
    } else if (u.kind === 'ping') {
      parts.push(Buffer.from('\r\n\r\n'))
      pings++
    } else if (units[i + 1]?.kind === 'message') {
      parts.push(Buffer.from('\r\n'))
    }
  }
  return { stream: Buffer.concat(parts), messages, pings }
}

describe('TcpFramer (property)', () => {
  it('yields the same messages and pings however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(unitArb, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (units, cuts) => {
          const { stream, messages, pings } = streamOf(units)
          const got: Buffer[] = []
          let gotPings = 0
          let error: unknown
          const framer = new TcpFramer({
            onMessage: (b) => got.push(Buffer.from(b)),
            onPing: () => gotPings++,
            onError: (e) => {
              error = e
            },
          })
          const points = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % stream.length)))].sort(
            (a, b) => a - b,
          )
          let prev = 0
          for (const p of [...points, stream.length]) {
            framer.push(stream.subarray(prev, p))
            prev = p
          }
          assert.equal(error, undefined)
          assert.deepEqual(got, messages)
          assert.equal(gotPings, pings)
          assert.equal(framer.buffered, 0)
        },
      ),
      { numRuns: 300 },
    )
  })
})
