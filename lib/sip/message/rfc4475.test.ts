import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { SipParseError, SipParseReason } from '../errors.ts'
import { createResponse } from './create-response.ts'
import { viaBranch } from './headers/via.ts'
import { parse } from './parse.ts'
import { serialize } from './serialize.ts'

const dir = new URL('../fixtures/rfc4475/', import.meta.url)
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as {
  messages: Array<{ file: string; section: string; rfc_class: string; message: string }>
}
const load = (file: string): Buffer => readFileSync(new URL(file, dir))

/** What our parser does with each message the RFC calls invalid (RFC 4475 §3.1.2), per the manifest. */
const INVALID: Record<string, { reason: SipParseReason; status: number | undefined } | 'accept'> = {
  'badinv01.dat': { reason: SipParseReason.BadHeaderValue, status: 400 },
  'clerr.dat': { reason: SipParseReason.BadContentLength, status: 400 },
  'ncl.dat': { reason: SipParseReason.BadHeaderValue, status: 400 },
  'scalar02.dat': { reason: SipParseReason.BadHeaderValue, status: 400 },
  'scalarlg.dat': { reason: SipParseReason.BadHeaderValue, status: undefined }, // a response: discard
  'quotbal.dat': { reason: SipParseReason.BadHeaderValue, status: 400 },
  'ltgtruri.dat': { reason: SipParseReason.BadRequestUri, status: 400 },
  'lwsruri.dat': { reason: SipParseReason.BadRequestUri, status: 400 },
  'lwsstart.dat': { reason: SipParseReason.BadRequestUri, status: 400 },
  'trws.dat': { reason: SipParseReason.BadStartLine, status: 400 },
  'escruri.dat': { reason: SipParseReason.BadRequestUri, status: 400 },
  'baddate.dat': 'accept', // "either 400 or normal processing": Date stays unparsed
  'regbadct.dat': { reason: SipParseReason.BadHeaderValue, status: 400 },
  'badaspec.dat': { reason: SipParseReason.BadHeaderValue, status: 400 },
  'baddn.dat': { reason: SipParseReason.BadHeaderValue, status: 400 },
  'badvers.dat': { reason: SipParseReason.BadVersion, status: 505 },
  'mismatch01.dat': { reason: SipParseReason.CSeqMismatch, status: 400 },
  'mismatch02.dat': { reason: SipParseReason.CSeqMismatch, status: 400 },
  'bigcode.dat': { reason: SipParseReason.BadStatus, status: undefined }, // a response: discard
  // RFC 3261 semantics the parser checks (§3.3): missing and repeated single headers.
  'insuf.dat': { reason: SipParseReason.MissingHeader, status: 400 },
  'multi01.dat': { reason: SipParseReason.DuplicateHeader, status: 400 },
  'mcl01.dat': { reason: SipParseReason.DuplicateHeader, status: 400 },
}

function parseError(buf: Buffer): SipParseError {
  try {
    parse(buf)
  } catch (e) {
    assert.ok(e instanceof SipParseError)
    return e
  }
  assert.fail('expected a SipParseError')
}

describe('RFC 4475 torture messages', () => {
  it('the corpus is complete: 49 messages in the manifest, one file each', () => {
    assert.equal(manifest.messages.length, 49)
    for (const m of manifest.messages) assert.ok(load(m.file).length > 0)
  })

  for (const m of manifest.messages) {
    const expected = INVALID[m.file]
    if (expected === undefined || expected === 'accept') {
      it(`§${m.section} ${m.file} (${m.rfc_class}) parses and round-trips byte-exact`, () => {
        const buf = load(m.file)
        const msg = parse(buf)
        const out = serialize(msg)
        // dblreq: octets after Content-Length are not part of the message (RFC 3261 §18.3).
        assert.deepEqual(out, m.file === 'dblreq.dat' ? buf.subarray(0, out.length) : buf)
        assert.equal(msg.kind, m.message.startsWith('response') ? 'response' : 'request')
      })
    } else {
      it(`§${m.section} ${m.file} is rejected with ${expected.reason}${expected.status ? ` / ${expected.status}` : ''}`, () => {
        const e = parseError(load(m.file))
        assert.equal(e.code, 'SBC_ERR_SIP_PARSE')
        assert.equal(e.reason, expected.reason)
        assert.equal(e.status, expected.status)
        assert.equal(e.respondable, expected.status !== undefined)
        assert.match(e.reasonPhrase, /^[\x20-\x7e]+$/)
      })
    }
  }

  it('the extra archive member test.dat (no colon on a line) is rejected', () => {
    const e = parseError(load('extra/test.dat'))
    assert.equal(e.code, 'SBC_ERR_SIP_PARSE')
  })

  it('baddn-terminated gives the same 400 as baddn', () => {
    assert.equal(parseError(load('variants/baddn-terminated.dat')).reason, SipParseReason.BadHeaderValue)
  })

  it('baddn over a stream is an unterminated header section, not an answer', () => {
    const e = (() => {
      try {
        parse(load('baddn.dat'), { stream: true })
      } catch (err) {
        return err as SipParseError
      }
      assert.fail('expected an error')
    })()
    assert.equal(e.reason, SipParseReason.Unterminated)
    assert.equal(e.respondable, false)
  })

  it('a 400 can be built for quotbal from the partial request, copying the malformed To as is', () => {
    const e = parseError(load('quotbal.dat'))
    assert.ok(e.request)
    const res = createResponse(e.request, 400, { reason: e.reasonPhrase })
    const text = serialize(res).toString('latin1')
    assert.match(text, /^SIP\/2\.0 400 Malformed To/)
    assert.match(text, /\r\nTo: "Mr\. J\. User <sip:j\.user@example\.com>\r\n/)
    assert.match(text, /\r\nVia: SIP\/2\.0\/UDP 192\.0\.2\.59:5050;branch=z9hG4bKkdjuw39234\r\n/)
  })

  describe('§3.1.1 valid messages expose what the RFC says they mean', () => {
    it('wsinv: folded, odd-case headers read as Max-Forwards 68, CSeq 9 INVITE, two more Vias in v:', () => {
      const m = parse(load('wsinv.dat'))
      assert.equal(m.maxForwards, 68)
      assert.deepEqual({ ...m.cseq }, { seq: 9, method: 'INVITE' })
      assert.equal(m.toTag, '1918181833n')
      assert.equal(m.fromTag, '98asjd8')
      assert.equal(m.from?.displayName, 'J Rosenberg \\"')
      assert.deepEqual(m.vias.map(viaBranch), ['390skdjuw', 'z9hG4bK9ikj8', 'z9hG4bK30239'])
      assert.deepEqual(
        m.vias.map((v) => v.transport),
        ['UDP', 'TCP', 'UDP'],
      )
      assert.equal(m.contacts[0]?.displayName, 'Quoted string ""')
      assert.equal(m.header('NewFangledHeader'), 'newfangled value\r\n continued newfangled value')
      assert.equal(m.header('subject'), '')
      assert.equal(m.body.length, 150)
    })

    it('intmeth: the extension method and the NUL in a quoted string are kept', () => {
      const m = parse(load('intmeth.dat'))
      assert.ok(m.kind === 'request')
      assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~")
      assert.equal(m.to?.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f')
      assert.equal(m.uri.kind === 'sip' && m.uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    })

    it('esc02: RE%47IST%45R is not REGISTER and C%6Fntact is not Contact', () => {
      const m = parse(load('esc02.dat'))
      assert.ok(m.kind === 'request')
      assert.equal(m.method, 'RE%47IST%45R')
      assert.equal(m.contacts.length, 2)
    })

    it('semiuri: the user part holds the ;', () => {
      const m = parse(load('semiuri.dat'))
      assert.ok(m.kind === 'request' && m.uri.kind === 'sip')
      assert.equal(m.uri.user, 'user;par=u%40example.net')
      assert.equal(m.uri.host, 'example.com')
    })

    it('mpart01: the binary body with NUL, CR and LF octets is kept exactly', () => {
      const buf = load('mpart01.dat')
      const m = parse(buf)
      assert.equal(m.body.length, m.contentLength)
      assert.deepEqual(m.body, buf.subarray(buf.length - m.body.length))
      assert.ok(m.body.includes(0))
    })

    it('unreason: the UTF-8 reason phrase is decoded', () => {
      const m = parse(load('unreason.dat'))
      assert.ok(m.kind === 'response')
      assert.equal(m.status, 200)
      assert.match(m.reason, /^= 2\*\*3 \* 5\*\*2 но сто девяносто девять/)
    })

    it('noreason: an empty reason phrase', () => {
      const m = parse(load('noreason.dat'))
      assert.ok(m.kind === 'response')
      assert.equal(m.reason, '')
    })

    it('dblreq: the REGISTER only, the trailing INVITE octets ignored', () => {
      const m = parse(load('dblreq.dat'))
      assert.ok(m.kind === 'request')
      assert.equal(m.method, 'REGISTER')
      assert.equal(m.body.length, 0)
    })

    it('inv2543: no Content-Length over UDP means the rest of the datagram; over a stream it is an error', () => {
      const buf = load('inv2543.dat')
      assert.equal(parse(buf).body.length, buf.length - buf.indexOf('\r\n\r\n') - 4)
      assert.equal(parseError2(buf).reason, SipParseReason.BadContentLength)
    })

    it('cparam01/02: a param outside <> is a header param, inside it is a URI param', () => {
      const c1 = parse(load('cparam01.dat')).contacts[0]!
      assert.equal(
        c1.params.some((p) => p[0] === 'unknownparam'),
        true,
      )
      const c2 = parse(load('cparam02.dat')).contacts[0]!
      assert.equal(c2.uri.kind === 'sip' && c2.uri.params.some((p) => p[0] === 'unknownparam'), true)
    })
  })
})

function parseError2(buf: Buffer): SipParseError {
  try {
    parse(buf, { stream: true })
  } catch (e) {
    assert.ok(e instanceof SipParseError)
    return e
  }
  assert.fail('expected a SipParseError')
}
