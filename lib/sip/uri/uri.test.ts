import assert from 'node:assert/strict'
import { SipParseError } from '../errors.ts'
import { parseUri, stringifyUri, unescapeUriPart } from './uri.ts'

describe('RFC 3261 §19.1 SIP and SIPS URIs', () => {
  it('splits user, password, host, port, parameters and headers', () => {
    const u = parseUri(
      'sips:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent',
    )
    assert.ok(u.kind === 'sip')
    assert.equal(u.scheme, 'sips')
    assert.equal(u.user, 'alice')
    assert.equal(u.password, 'secret')
    assert.equal(u.host, 'atlanta.com')
    assert.equal(u.port, 5061)
    assert.deepEqual(u.params, [
      ['transport', 'tcp'],
      ['lr', null],
    ])
    assert.deepEqual(u.headers, [
      ['subject', 'project%20x'],
      ['priority', 'urgent'],
    ])
  })

  it('takes IPv6 references with their brackets', () => {
    const u = parseUri('sip:[2001:db8::10]:5070;maddr=[2001:db8::1]')
    assert.ok(u.kind === 'sip')
    assert.equal(u.host, '[2001:db8::10]')
    assert.equal(u.port, 5070)
    assert.deepEqual(u.params, [['maddr', '[2001:db8::1]']])
  })

  it('keeps escapes as written and unescapes on request (§19.1.4)', () => {
    const u = parseUri('sip:%75se%72@example.com')
    assert.ok(u.kind === 'sip')
    assert.equal(u.user, '%75se%72')
    assert.equal(unescapeUriPart(u.user!), 'user')
    assert.equal(unescapeUriPart('a%00b').length, 3)
  })

  it('reads the scheme case-insensitively', () => {
    assert.equal(parseUri('SIP:bob@biloxi.com').scheme, 'sip')
  })

  for (const bad of [
    'sip:',
    'sip:user@',
    'sip:host:99999',
    'sip:host:',
    'sip:us er@host',
    'sip:host;=x',
    'sip:%zz@host',
    'sip:host?noequals',
    '<sip:host>',
    ':nothing',
    'sip:[::1',
    'tel:',
  ]) {
    it(`rejects ${JSON.stringify(bad)} with SBC_ERR_SIP_PARSE`, () => {
      assert.throws(
        () => parseUri(bad),
        (e: unknown) =>
          e instanceof SipParseError && e.code === 'SBC_ERR_SIP_PARSE' && e.reason === 'bad-uri',
      )
    })
  }
})

describe('RFC 3966 tel URIs and other absolute URIs', () => {
  it('parses a tel URI with parameters', () => {
    const u = parseUri('tel:7042;phone-context=example.com')
    assert.ok(u.kind === 'tel')
    assert.equal(u.number, '7042')
    assert.deepEqual(u.params, [['phone-context', 'example.com']])
  })

  it('keeps unknown schemes opaque (RFC 4475 §3.3.2)', () => {
    const u = parseUri('isbn:2983792873')
    assert.deepEqual(u, { kind: 'absolute', scheme: 'isbn', opaque: '2983792873' })
  })

  for (const text of [
    'sip:alice@atlanta.com',
    'sips:alice:pw@[::1]:5061;transport=tls;lr?h=v&i=w',
    'sip:+1-212-555-1212:1234@gateway.com;user=phone',
    'tel:+358-555-1234567;postd=pp22',
    'http://www.example.com/',
  ]) {
    it(`stringifies ${text} back to the same text`, () => {
      assert.equal(stringifyUri(parseUri(text)), text)
    })
  }
})
