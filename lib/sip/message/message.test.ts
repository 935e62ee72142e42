import assert from 'node:assert/strict'
import { SipMessageError, SipParseError, SipParseReason } from '../errors.ts'
import { INVITE_WITH_SDP, OK_200_WITH_SDP } from '../fixtures/bench-messages.ts'
import { createResponse } from './create-response.ts'
import { viaBranch } from './headers/via.ts'
import { SipRequest, SipResponse } from './message.ts'
import { parse } from './parse.ts'
import { serialize } from './serialize.ts'

const text = (b: Buffer): string => b.toString('latin1')

function parseError(buf: Buffer | string, options?: Parameters<typeof parse>[1]): SipParseError {
  try {
    parse(typeof buf === 'string' ? Buffer.from(buf, 'latin1') : buf, options)
  } catch (e) {
    assert.ok(e instanceof SipParseError)
    return e
  }
  assert.fail('expected a SipParseError')
}

const OPTIONS = [
  'OPTIONS sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877, SIP/2.0/TCP p1.example.com;branch=z9hG4bKp1',
  'Max-Forwards: 70',
  'To: <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710',
  'CSeq: 63104 OPTIONS',
  'Content-Length: 0',
  '',
  '',
].join('\r\n')

describe('RFC 3261 §7 parsed messages: accessors', () => {
  it('exposes what routing and transactions read from an INVITE', () => {
    const m = parse(INVITE_WITH_SDP)
    assert.ok(m.kind === 'request')
    assert.equal(m.method, 'INVITE')
    assert.equal(m.uri.kind === 'sip' && m.uri.user, '+4930123456789')
    assert.equal(viaBranch(m.topVia!), 'z9hG4bK-524287-1---7f3a9c2e4b1d')
    assert.equal(m.vias.length, 2)
    assert.equal(m.fromTag, 'a73kszlfl')
    assert.equal(m.toTag, undefined)
    assert.equal(m.callId, '4f9d3c2b-8e1a-4c7d-9b6f-2a5e8d1c0b3f@198.51.100.20')
    assert.deepEqual({ ...m.cseq }, { seq: 102, method: 'INVITE' })
    assert.equal(m.maxForwards, 69)
    assert.equal(m.contacts[0]!.uri.kind === 'sip' && m.contacts[0]!.uri.port, 5060)
    assert.equal(m.recordRoutes.length, 1)
    assert.equal(m.contentLength, m.body.length)
    assert.equal(m.contentType?.subtype, 'sdp')
    assert.deepEqual(m.parsed('supported'), ['replaces', 'timer', '100rel'])
    assert.match(m.body.toString(), /^v=0\r\n/)
  })

  it('reads a 200 OK', () => {
    const m = parse(OK_200_WITH_SDP)
    assert.ok(m.kind === 'response')
    assert.equal(m.status, 200)
    assert.equal(m.reason, 'OK')
    assert.equal(m.toTag, '9fxced76sl')
  })

  it('skips CRLFs before the start line (§7.5)', () => {
    const m = parse(Buffer.from(`\r\n\r\n${OPTIONS}`))
    assert.deepEqual(serialize(m), Buffer.from(OPTIONS))
  })

  it('finds headers by any case and by compact form', () => {
    const m = parse(Buffer.from(OPTIONS.replace('Call-ID:', 'i:').replace('To:', 'tO:')))
    assert.equal(m.header('Call-ID'), 'a84b4c76e66710')
    assert.equal(m.header('to'), '<sip:bob@biloxi.example.com>')
    assert.equal(m.hasHeader('Subject'), false)
  })
})

describe('RFC 3261 §7 parse errors', () => {
  it('enforces the size, header count and line length limits', () => {
    assert.equal(parseError(OPTIONS, { maxMessageSize: 100 }).reason, SipParseReason.TooLarge)
    assert.equal(parseError(OPTIONS, { maxMessageSize: 100 }).status, 513)
    assert.equal(parseError(OPTIONS, { maxHeaders: 3 }).reason, SipParseReason.TooManyHeaders)
    assert.equal(parseError(OPTIONS, { maxLineLength: 40 }).reason, SipParseReason.LineTooLong)
  })

  it('rejects bare CR and LF in header lines', () => {
    assert.equal(
      parseError(OPTIONS.replace('Max-Forwards: 70', 'Max-Forwards: 70\nX: y')).reason,
      'bad-header-line',
    )
    assert.equal(
      parseError(OPTIONS.replace('Max-Forwards: 70', 'Max-Forwards: 70\rX: y')).reason,
      'bad-header-line',
    )
  })

  it('gives a typed error, never another exception, for empty and non-SIP input', () => {
    for (const junk of ['', '\r\n', 'hello', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', '\x00\x01\x02\r\n\r\n']) {
      assert.equal(parseError(junk).code, 'SBC_ERR_SIP_PARSE')
    }
  })

  it('a Status-Line with a bad version or code is not answerable', () => {
    const e = parseError('SIP/2.0 99 Low\r\nVia: SIP/2.0/UDP h\r\n\r\n')
    assert.equal(e.reason, SipParseReason.BadStatus)
    assert.equal(e.respondable, false)
    assert.equal(parseError('SIP/3.0 200 OK\r\n\r\n').reason, SipParseReason.BadVersion)
  })
})

describe('RFC 3261 §7 editing and serialising', () => {
  it('serialises an unmodified message to its exact bytes, without copying', () => {
    const m = parse(INVITE_WITH_SDP)
    assert.equal(serialize(m).buffer, INVITE_WITH_SDP.buffer)
    assert.deepEqual(serialize(m), INVITE_WITH_SDP)
  })

  it('prepends and removes Vias, keeping untouched lines as written', () => {
    const m = parse(Buffer.from(OPTIONS))
    m.prependVia({
      protocol: 'SIP',
      version: '2.0',
      transport: 'UDP',
      host: '203.0.113.1',
      port: 5060,
      params: [['branch', 'z9hG4bKsbc1']],
    })
    assert.equal(m.vias.length, 3)
    assert.match(
      text(serialize(m)),
      /^OPTIONS [^\r]+\r\nVia: SIP\/2\.0\/UDP 203\.0\.113\.1:5060;branch=z9hG4bKsbc1\r\nVia: SIP\/2\.0\/UDP pc33/,
    )
    assert.equal(viaBranch(m.removeTopVia()!), 'z9hG4bKsbc1')
    assert.equal(viaBranch(m.removeTopVia()!), 'z9hG4bKhjhs8ass877')
    // The second value of the first line stays, as written.
    assert.equal(m.header('via'), 'SIP/2.0/TCP p1.example.com;branch=z9hG4bKp1')
    assert.equal(viaBranch(m.topVia!), 'z9hG4bKp1')
    const again = parse(serialize(m))
    assert.equal(again.vias.length, 1)
  })

  it('recomputes Content-Length when the body changes, in place of the old line', () => {
    const m = parse(INVITE_WITH_SDP)
    m.body = Buffer.from('v=0\r\n')
    const out = text(serialize(m))
    assert.match(out, /\r\nContent-Length: 5\r\n\r\nv=0\r\n$/)
    assert.equal(out.match(/Content-Length/g)?.length, 1)
  })

  it('adds, replaces and removes headers', () => {
    const m = parse(Buffer.from(OPTIONS))
    m.addHeader('Route', '<sip:p2.example.com;lr>').addHeader('Route', '<sip:p1.example.com;lr>', 'first')
    assert.deepEqual(
      m.routes.map((r) => r.uri.kind === 'sip' && r.uri.host),
      ['p1.example.com', 'p2.example.com'],
    )
    m.setParsed('max-forwards', 69)
    assert.equal(m.maxForwards, 69)
    assert.equal(m.removeHeader('route'), 2)
    m.setHeader('Subject', 'Ünïcödé')
    const back = parse(serialize(m))
    assert.equal(back.maxForwards, 69)
    assert.equal(back.routes.length, 0)
    assert.equal(back.header('subject'), 'Ünïcödé')
    assert.equal(back.header('from'), 'Alice <sip:alice@atlanta.example.com>;tag=1928301774')
  })

  it('refuses header injection and invalid names', () => {
    const m = parse(Buffer.from(OPTIONS))
    assert.throws(() => m.addHeader('X', 'a\r\nInjected: 1'), SipMessageError)
    assert.throws(() => m.addHeader('X', 'a\nb'), SipMessageError)
    assert.throws(() => m.addHeader('Bad Name', 'x'), SipMessageError)
    m.addHeader('X', 'folded\r\n value')
    assert.equal(parse(serialize(m)).header('x'), 'folded\r\n value')
  })

  it('builds a request from scratch that parses back', () => {
    const r = new SipRequest('OPTIONS', 'sip:bob@[2001:db8::2]:5070;transport=tcp')
    r.addHeader('Via', 'SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKx;rport')
      .addHeader('From', '<sip:sbc@example.com>;tag=a')
      .addHeader('To', '<sip:bob@example.com>')
      .addHeader('Call-ID', 'c1')
      .addHeader('CSeq', '1 OPTIONS')
      .addHeader('Max-Forwards', '70')
    const out = serialize(r)
    assert.match(text(out), /^OPTIONS sip:bob@\[2001:db8::2\]:5070;transport=tcp SIP\/2\.0\r\n/)
    assert.match(text(out), /\r\nContent-Length: 0\r\n\r\n$/)
    const back = parse(out, { stream: true })
    assert.ok(back.kind === 'request')
    assert.equal(back.uri.kind === 'sip' && back.uri.host, '[2001:db8::2]')
  })

  it('refuses impossible status codes', () => {
    assert.throws(() => new SipResponse(1000, 'x'), SipMessageError)
    assert.throws(() => new SipResponse(200, 'a\r\nb'), SipMessageError)
  })
})

describe('RFC 3261 §8.2.6 createResponse', () => {
  it('copies Via (all, in order), From, To, Call-ID and CSeq, and adds a To tag', () => {
    const req = parse(Buffer.from(OPTIONS))
    assert.ok(req.kind === 'request')
    const res = createResponse(req, 200, { toTag: 'sbc-1' })
    const back = parse(serialize(res))
    assert.ok(back.kind === 'response')
    assert.equal(back.status, 200)
    assert.equal(back.reason, 'OK')
    assert.deepEqual(back.vias.map(viaBranch), ['z9hG4bKhjhs8ass877', 'z9hG4bKp1'])
    assert.equal(back.fromTag, '1928301774')
    assert.equal(back.toTag, 'sbc-1')
    assert.equal(back.callId, 'a84b4c76e66710')
    assert.deepEqual({ ...back.cseq }, { seq: 63104, method: 'OPTIONS' })
    assert.equal(back.contentLength, 0)
    assert.equal(back.hasHeader('max-forwards'), false)
  })

  it('leaves 100 Trying untagged and keeps an existing tag', () => {
    const req = parse(
      Buffer.from(OPTIONS.replace('<sip:bob@biloxi.example.com>', '<sip:bob@biloxi.example.com>;tag=x')),
    )
    assert.ok(req.kind === 'request')
    assert.equal(createResponse(req, 180).toTag, 'x')
    const untagged = parse(Buffer.from(OPTIONS))
    assert.ok(untagged.kind === 'request')
    assert.equal(createResponse(untagged, 100).toTag, undefined)
    assert.match(createResponse(untagged, 486).toTag ?? '', /^[0-9a-f]{16}$/)
  })

  it('copies a To whose URI does not parse as it is, untagged, also when the request was read first', () => {
    // The name-addr parses, its URI (a space in the host) does not: the response goes out anyway.
    for (const readFirst of [false, true]) {
      const req = parse(
        Buffer.from(OPTIONS.replace('<sip:bob@biloxi.example.com>', '<sip:bob@bil oxi.example.com>')),
      )
      assert.ok(req.kind === 'request')
      if (readFirst) assert.equal(req.toTag, undefined)
      const res = createResponse(req, 480, { toTag: 'sbc-1' })
      assert.equal(res.header('to'), '<sip:bob@bil oxi.example.com>')
      assert.match(serialize(res).toString('latin1'), /\r\nTo: <sip:bob@bil oxi\.example\.com>\r\n/)
    }
  })

  it("shares the request's parse of Via, From, To, Call-ID and CSeq and still tags the response's To only", () => {
    const req = parse(Buffer.from(OPTIONS))
    assert.ok(req.kind === 'request')
    const before = { vias: req.vias, from: req.from, to: req.to, cseq: req.cseq }
    const res = createResponse(req, 200, { toTag: 'sbc-1' })
    assert.equal(res.vias[0], before.vias[0])
    assert.equal(res.from, before.from)
    assert.equal(res.cseq, before.cseq)
    assert.equal(res.toTag, 'sbc-1')
    assert.equal(res.to?.uri, before.to?.uri)
    assert.equal(req.toTag, undefined)
    assert.equal(req.header('to'), '<sip:bob@biloxi.example.com>')
    assert.equal(res.header('to'), '<sip:bob@biloxi.example.com>;tag=sbc-1')
  })
})
