import assert from 'node:assert/strict'
import { SipParseError } from '../../errors.ts'
import { parseCallId } from './call-id.ts'
import { parseContentType, stringifyContentType } from './content-type.ts'
import { parseCSeq } from './cseq.ts'
import { displayName, headerKey } from './header-names.ts'
import { nameAddrTag, parseNameAddr, parseNameAddrList, stringifyNameAddr } from './name-addr.ts'
import { parseContentLength, parseMaxForwards } from './numeric.ts'
import { deleteParam, getParam, setParam } from './params.ts'
import { parseTokenList } from './token-list.ts'
import { parseVia, stringifyVia, viaBranch, viaReceived, viaRport } from './via.ts'

const isParseError = (e: unknown): boolean => e instanceof SipParseError && e.code === 'SBC_ERR_SIP_PARSE'

describe('RFC 3261 §20.42 Via', () => {
  it('reads sent-protocol, sent-by and branch, received, rport', () => {
    const [v] = parseVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=10.0.0.1;rport')
    assert.ok(v)
    assert.equal(v.transport, 'UDP')
    assert.equal(v.host, '192.0.2.1')
    assert.equal(v.port, 5060)
    assert.equal(viaBranch(v), 'z9hG4bK776asdhds')
    assert.equal(viaReceived(v), '10.0.0.1')
    assert.equal(viaRport(v), true)
  })

  it('reads a filled-in rport as a number (RFC 3581 §4)', () => {
    assert.equal(viaRport(parseVia('SIP/2.0/UDP h;rport=5071')[0]!), 5071)
  })

  it('allows LWS around / : ; = and several values per line', () => {
    const vs = parseVia(
      'SIP / 2.0 / TCP  h1.example.com : 5070 ; branch = z9hG4bKa , SIP/2.0/TLS [2001:db8::1]:5061',
    )
    assert.equal(vs.length, 2)
    assert.equal(vs[0]!.port, 5070)
    assert.equal(viaBranch(vs[0]!), 'z9hG4bKa')
    assert.equal(vs[1]!.host, '[2001:db8::1]')
    assert.equal(stringifyVia(vs[1]!), 'SIP/2.0/TLS [2001:db8::1]:5061')
  })

  for (const bad of [
    '',
    'SIP/2.0 host',
    'SIP/2.0/UDP',
    'SIP/2.0/UDP h;;',
    'SIP/2.0/UDP h,',
    'SIP/2.0/UDP h:99999',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseVia(bad), isParseError))
  }
})

describe('RFC 3261 §20.10 name-addr and addr-spec', () => {
  it('reads a quoted display name with escapes, the URI and the tag', () => {
    const na = parseNameAddr('"A \\"B\\" C" <sip:a@b.example>;tag=xyz')
    assert.equal(na.displayName, 'A "B" C')
    assert.equal(na.uri.kind === 'sip' && na.uri.host, 'b.example')
    assert.equal(nameAddrTag(na), 'xyz')
  })

  it('reads a token display name without LWS before < (RFC 4475 §3.1.1.6)', () => {
    assert.equal(parseNameAddr('caller<sip:caller@example.com>').displayName, 'caller')
  })

  it('gives ;params after an addr-spec to the header, not the URI (RFC 4475 §3.3.12)', () => {
    const na = parseNameAddr('sip:a@b.example;tag=1')
    assert.equal(nameAddrTag(na), '1')
    assert.deepEqual(na.uri.kind === 'sip' && na.uri.params, [])
  })

  it('splits a Contact list on commas outside quotes and brackets', () => {
    const list = parseNameAddrList('"x, y" <sip:a@h;p=1>;q=0.5, <sip:b@h>;expires=60')
    assert.equal(list.length, 2)
    assert.equal(list[0]!.displayName, 'x, y')
    assert.equal(getParam(list[1]!.params, 'EXPIRES'), '60')
  })

  it('stringifies canonically and reads back the same', () => {
    const na = parseNameAddr('Bob <sips:bob@biloxi.example.com>;tag=a6c85cf')
    const again = parseNameAddr(stringifyNameAddr(na))
    assert.equal(stringifyNameAddr(na), '"Bob" <sips:bob@biloxi.example.com>;tag=a6c85cf')
    assert.equal(again.displayName, 'Bob')
    assert.deepEqual(again.params, na.params)
  })

  for (const bad of [
    '',
    '"unterminated <sip:a@b>',
    'Bell, Alexander <sip:a@b>',
    '< sip:a@b >',
    'sip:a@b?x=y',
    '<sip:a@b',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseNameAddr(bad), isParseError))
  }

  it('reports a bad URI inside <> when the URI is read', () => {
    const na = parseNameAddr('<sip:a@b:99999>')
    assert.throws(() => na.uri, isParseError)
  })
})

describe('RFC 3261 §20.16 CSeq, §20.22 Max-Forwards, §20.14 Content-Length, §20.8 Call-ID', () => {
  it('reads CSeq with leading zeros and folding', () => {
    assert.deepEqual({ ...parseCSeq('0009\r\n  INVITE') }, { seq: 9, method: 'INVITE' })
  })

  it('rejects a CSeq above 2^32-1 (RFC 4475 §3.1.2.4) and one without method', () => {
    assert.equal(parseCSeq('4294967295 ACK').seq, 4294967295)
    assert.throws(() => parseCSeq('4294967296 ACK'), isParseError)
    assert.throws(() => parseCSeq('36893488147419103232 REGISTER'), isParseError)
    assert.throws(() => parseCSeq('12'), isParseError)
    assert.throws(() => parseCSeq('x INVITE'), isParseError)
  })

  it('bounds Max-Forwards to 255 and Content-Length to non-negative numbers', () => {
    assert.equal(parseMaxForwards('0068'), 68)
    assert.throws(() => parseMaxForwards('300'), isParseError)
    assert.throws(() => parseContentLength('-999'), isParseError)
    assert.throws(() => parseContentLength(''), isParseError)
  })

  it('accepts word@word Call-IDs and rejects whitespace', () => {
    assert.equal(parseCallId('a84b4c76e66710@pc33.atlanta.com'), 'a84b4c76e66710@pc33.atlanta.com')
    assert.throws(() => parseCallId('a b'), isParseError)
    assert.throws(() => parseCallId(''), isParseError)
  })
})

describe('Content-Type, token lists and parameters', () => {
  it('reads a media type with parameters', () => {
    const ct = parseContentType('multipart/mixed ; boundary="unique-boundary-1"')
    assert.equal(ct.type, 'multipart')
    assert.equal(getParam(ct.params, 'boundary'), '"unique-boundary-1"')
    assert.equal(stringifyContentType(ct), 'multipart/mixed;boundary="unique-boundary-1"')
  })

  it('reads token lists', () => {
    assert.deepEqual(parseTokenList('100rel , timer,replaces'), ['100rel', 'timer', 'replaces'])
    assert.deepEqual(parseTokenList(''), [])
    assert.throws(() => parseTokenList('a,,b'), isParseError)
  })

  it('edits parameters in place', () => {
    const p: Array<[string, string | null]> = [['Tag', '1']]
    setParam(p, 'tag', '2')
    setParam(p, 'lr', null)
    assert.deepEqual(p, [
      ['Tag', '2'],
      ['lr', null],
    ])
    deleteParam(p, 'TAG')
    assert.deepEqual(p, [['lr', null]])
  })
})

describe('RFC 3261 §7.3.3 header names', () => {
  it('maps compact forms and any case to one key', () => {
    for (const [name, key] of [
      ['v', 'via'],
      ['V', 'via'],
      ['ViA', 'via'],
      ['i', 'call-id'],
      ['m', 'contact'],
      ['l', 'content-length'],
      ['k', 'supported'],
      ['MaX-fOrWaRdS', 'max-forwards'],
      ['X-Custom', 'x-custom'],
    ]) {
      assert.equal(headerKey(name!), key)
    }
    assert.equal(headerKey('bad name'), undefined)
    assert.equal(headerKey(''), undefined)
    assert.equal(displayName('call-id'), 'Call-ID')
    assert.equal(displayName('x-foo-bar'), 'X-Foo-Bar')
  })
})
