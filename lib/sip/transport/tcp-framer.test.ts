import assert from 'node:assert/strict'
import type { SipTransportError } from './errors.ts'
import { scanContentLength, TcpFramer } from './tcp-framer.ts'

function collect(maxMessageSize?: number) {
  const messages: string[] = []
  const errors: SipTransportError[] = []
  let pings = 0
  const framer = new TcpFramer(
    {
      onMessage: (b) => messages.push(b.toString('latin1')),
      onPing: () => pings++,
      onError: (e) => errors.push(e),
    },
    maxMessageSize === undefined ? {} : { maxMessageSize },
  )
  return { framer, messages, errors, pings: () => pings }
}

const options = 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n'
const withBody = 'MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\nCall-ID: x\r\n\r\nhello'

describe('TcpFramer', () => {
  it('delivers back-to-back messages from one chunk', () => {
    const c = collect()
    c.framer.push(Buffer.from(options + withBody + options))
    assert.deepEqual(c.messages, [options, withBody, options])
  })

  it('reads the compact form l: and a folded, case-insensitive Content-Length', () => {
    const folded = 'INFO sip:a SIP/2.0\r\ncOnTeNt-LeNgTh :\r\n 3\r\n\r\nabc'
    const c = collect()
    c.framer.push(Buffer.from(folded + withBody))
    assert.deepEqual(c.messages, [folded, withBody])
  })

  it('waits for the body to complete', () => {
    const c = collect()
    c.framer.push(Buffer.from(withBody.slice(0, -2)))
    assert.deepEqual(c.messages, [])
    c.framer.push(Buffer.from(withBody.slice(-2)))
    assert.deepEqual(c.messages, [withBody])
  })

  it('answers each CRLFCRLF ping between messages, even when split (RFC 5626 §3.5.1)', () => {
    const c = collect()
    c.framer.push(Buffer.from('\r\n\r'))
    c.framer.push(Buffer.from('\n'))
    c.framer.push(Buffer.from(`\r\n\r\n${options}`))
    assert.equal(c.pings(), 2)
    assert.deepEqual(c.messages, [options])
  })

  it('ignores a lone CRLF pong before a start line (RFC 3261 §7.5)', () => {
    const c = collect()
    c.framer.push(Buffer.from(`\r\n${options}\r\n${options}`))
    assert.equal(c.pings(), 0)
    assert.deepEqual(c.messages, [options, options])
  })

  it('reports a message without Content-Length as a framing error and stops', () => {
    const c = collect()
    c.framer.push(Buffer.from(`OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n${options}`))
    assert.equal(c.errors[0]?.code, 'SBC_ERR_SIP_TRANSPORT_BAD_CONTENT_LENGTH')
    assert.deepEqual(c.messages, [])
  })

  it('reports a message larger than the maximum size', () => {
    const c = collect(100)
    c.framer.push(Buffer.from('MESSAGE sip:a SIP/2.0\r\nContent-Length: 500\r\n\r\n'))
    assert.equal(c.errors[0]?.code, 'SBC_ERR_SIP_TRANSPORT_MESSAGE_TOO_LARGE')
  })

  it('reports an endless header section once it exceeds the maximum size', () => {
    const c = collect(100)
    for (let i = 0; i < 20 && c.errors.length === 0; i++)
      c.framer.push(Buffer.from('X-Filler: aaaaaaaaaa\r\n'))
    assert.equal(c.errors.length, 1)
    assert.equal(c.errors[0]?.code, 'SBC_ERR_SIP_TRANSPORT_MESSAGE_TOO_LARGE')
  })

  it('emits nothing more once a handler closes it', () => {
    const messages: string[] = []
    const framer: TcpFramer = new TcpFramer({
      onMessage: (b) => {
        messages.push(b.toString())
        framer.close()
      },
      onPing: () => {},
      onError: () => {},
    })
    framer.push(Buffer.from(options + options))
    assert.equal(messages.length, 1)
  })
})

describe('scanContentLength', () => {
  const cases: [string, number | string][] = [
    ['A sip:a SIP/2.0\r\nContent-Length: 12\r\n', 12],
    ['A sip:a SIP/2.0\r\nL:7\r\n', 7],
    ['A sip:a SIP/2.0\r\nLocation: 7\r\nl: 3\r\n', 3],
    ['A sip:a SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 1\r\n', 1],
    ['A sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n', 'conflicting Content-Length values'],
    ['A sip:a SIP/2.0\r\nContent-Length: x\r\n', 'Content-Length is not a number'],
    ['A sip:a SIP/2.0\r\nContent-Length: 5 6\r\n', 'Content-Length is not a number'],
    ['A sip:a SIP/2.0\r\nContent-Length: 99999999999\r\n', 'Content-Length is not a number'],
    ['A sip:a SIP/2.0\r\nContent-Type: x\r\n', 'missing Content-Length'],
  ]
  for (const [head, expected] of cases) {
    it(`returns ${JSON.stringify(expected)} for ${JSON.stringify(head.split('\r\n').slice(1).join(' | '))}`, () => {
      const buf = Buffer.from(head)
      assert.equal(scanContentLength(buf, buf.length), expected)
    })
  }
})
