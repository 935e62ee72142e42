import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  candidates,
  cryptoInlineKey,
  cryptos,
  direction,
  effectiveDirection,
  fmtp,
  iceCredentials,
  numericAttribute,
  parseCandidate,
  rtcp,
  rtpMaps,
  ssrcs,
} from './attributes.ts'
import { filterCodecs } from './codec-filter.ts'
import { SdpError, SdpErrorCode } from './errors.ts'
import { assertSdpMatches } from './golden.ts'
import {
  removeIce,
  replaceOrigin,
  replaceSessionConnection,
  setCryptos,
  setDirection,
  setIceLite,
  setMediaEndpoint,
  setProto,
  setPtime,
} from './rewrite.ts'
import { SessionDescription } from './session-description.ts'

const FIXTURES = join(import.meta.dirname, 'fixtures')
const read = (name: string) => readFileSync(join(FIXTURES, name), 'utf8')
const RELAY = '203.0.113.10'

function media0(sdp: SessionDescription) {
  const m = sdp.media[0]
  assert.ok(m)
  return m
}

/** The transformation each golden pair exercises. */
const GOLDEN: Record<string, (sdp: SessionDescription) => void> = {
  'offer-avp-to-savp': (sdp) => {
    const port = 30000 + 2 * Math.floor(Math.random() * 1000)
    replaceOrigin(sdp, RELAY)
    replaceSessionConnection(sdp, RELAY)
    setMediaEndpoint(media0(sdp), RELAY, port, { mux: false, port: port + 1 })
    setProto(media0(sdp), 'RTP/SAVP')
    setCryptos(media0(sdp), [
      {
        tag: 1,
        suite: 'AES_CM_128_HMAC_SHA1_80',
        keyParams: `inline:${randomBytes(30).toString('base64')}`,
        sessionParams: [],
      },
      {
        tag: 2,
        suite: 'AES_CM_128_HMAC_SHA1_32',
        keyParams: `inline:${randomBytes(30).toString('base64')}`,
        sessionParams: [],
      },
    ])
    sdp.bumpVersion()
  },
  'codec-profile': (sdp) => {
    const r = filterCodecs(media0(sdp), [
      { name: 'PCMA', clockRate: 8000 },
      { name: 'opus', clockRate: 48000, channels: 2, payloadType: 111 },
      { name: 'pcmu', clockRate: 8000 },
    ])
    assert.deepEqual(r.kept, [8, 111, 0, 101, 110])
    assert.deepEqual(r.removed, [18])
    assert.deepEqual([...r.payloadTypeMap], [[109, 111]])
    setPtime(media0(sdp), 20)
    sdp.bumpVersion()
  },
  'ice-strip': (sdp) => {
    removeIce(sdp)
    setIceLite(sdp, true)
    setProto(media0(sdp), 'RTP/AVP')
    filterCodecs(media0(sdp), [
      { name: 'PCMU', clockRate: 8000 },
      { name: 'opus', clockRate: 48000, channels: 2 },
    ])
    setMediaEndpoint(media0(sdp), RELAY, 31000, { mux: true })
    sdp.bumpVersion()
  },
  hold: (sdp) => {
    setDirection(media0(sdp), 'sendonly')
    setPtime(media0(sdp), 20)
    sdp.bumpVersion()
  },
}

describe('SessionDescription', () => {
  const inputs = readdirSync(FIXTURES).filter((f) => f.endsWith('.in.sdp'))

  describe('round trip', () => {
    for (const f of inputs) {
      it(`${f} serialises byte for byte when unmodified`, () => {
        const text = read(f)
        const sdp = SessionDescription.parse(text)
        assert.equal(sdp.modified, false)
        assert.equal(sdp.toString(), text)
      })
    }
  })

  describe('golden rewrites', () => {
    for (const [name, transform] of Object.entries(GOLDEN)) {
      it(`${name}.in.sdp → ${name}.out.sdp`, () => {
        const sdp = SessionDescription.parse(read(`${name}.in.sdp`))
        transform(sdp)
        assert.equal(sdp.modified, true)
        const out = sdp.toString()
        assertSdpMatches(out, read(`${name}.out.sdp`))
        // Canonical output is a fixed point: parsing and printing it again changes nothing.
        assert.equal(SessionDescription.parse(out).toString(), out)
      })
    }
  })

  describe('typed access', () => {
    it('reads o=, c=, m= and the RTP attributes', () => {
      const sdp = SessionDescription.parse(read('codec-profile.in.sdp'))
      assert.deepEqual(sdp.origin, {
        username: '-',
        sessionId: '1',
        sessionVersion: '1',
        netType: 'IN',
        addrType: 'IP4',
        address: '198.51.100.7',
      })
      assert.equal(sdp.connection, undefined)
      const m = media0(sdp)
      assert.deepEqual([m.media, m.port, m.portCount, m.proto], ['audio', 40000, undefined, 'RTP/AVP'])
      assert.deepEqual(m.formats, ['18', '0', '109', '8', '101', '110'])
      assert.deepEqual(sdp.effectiveConnection(m), {
        netType: 'IN',
        addrType: 'IP4',
        address: '198.51.100.7',
      })
      const maps = rtpMaps(m, m.formats)
      assert.deepEqual(maps.get(109), { payloadType: 109, encoding: 'opus', clockRate: 48000, channels: 2 })
      assert.equal(fmtp(m, 18), 'annexb=no')
      assert.equal(numericAttribute(m, 'maxptime'), 40)
      assert.equal(numericAttribute(m, 'ptime'), undefined)
      assert.equal(effectiveDirection(sdp, m), 'sendrecv')
    })

    it('knows static payload types without a=rtpmap (RFC 3551 §6)', () => {
      const sdp = SessionDescription.parse(read('hold.in.sdp'))
      assert.deepEqual(rtpMaps(media0(sdp), media0(sdp).formats).get(0), {
        payloadType: 0,
        encoding: 'PCMU',
        clockRate: 8000,
        channels: 1,
      })
      assert.equal(direction(sdp), 'sendrecv')
      assert.equal(direction(media0(sdp)), undefined)
    })

    it('reads ICE, rtcp, rtcp-mux, mid and ssrc', () => {
      const sdp = SessionDescription.parse(read('ice-strip.in.sdp'))
      const m = media0(sdp)
      assert.deepEqual(iceCredentials(m), { ufrag: 'a8Fq', pwd: '3qvDuwOKSIN8fXlU0Sv1ghSO' })
      const [srflx] = candidates(m)
      assert.equal(srflx?.type, 'srflx')
      assert.equal(srflx?.relatedAddress, '10.0.0.5')
      assert.equal(srflx?.relatedPort, 60769)
      assert.deepEqual(srflx?.extensions, [['generation', '0']])
      assert.deepEqual(rtcp(m), { port: 9, addrType: 'IP4', address: '0.0.0.0' })
      assert.equal(m.hasAttribute('rtcp-mux'), true)
      assert.equal(m.attribute('mid'), '0')
      assert.deepEqual(ssrcs(m), [{ ssrc: 3735928559, attribute: 'cname', value: 'x7Yt' }])
    })

    it('reads a=crypto and its inline key (RFC 4568 §9.1)', () => {
      const sdp = SessionDescription.parse(
        'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 1 RTP/SAVP 0\r\n' +
          'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32 UNENCRYPTED_SRTCP\r\n',
      )
      const [c] = cryptos(media0(sdp))
      assert.equal(c?.suite, 'AES_CM_128_HMAC_SHA1_80')
      assert.deepEqual(c?.sessionParams, ['UNENCRYPTED_SRTCP'])
      assert.equal(c && cryptoInlineKey(c)?.length, 30)
    })

    it('reads port counts and the session-level c= with TTL, and keeps unknown lines', () => {
      const sdp = SessionDescription.parse(read('misc-lines.in.sdp'))
      assert.equal(sdp.media.length, 3)
      assert.equal(sdp.media[0]?.portCount, 2)
      assert.equal(sdp.media[2]?.proto, 'udptl')
      assert.equal(sdp.connection?.address, '10.1.1.1/127')
      sdp.bumpVersion()
      assert.match(sdp.toString(), /\r\nz=2882844526 -1h\r\nk=prompt\r\n/)
    })

    it('bumps versions beyond 2^53 exactly', () => {
      const sdp = SessionDescription.parse(read('ice-strip.in.sdp').replace(' 2 IN', ' 9007199254740993 IN'))
      sdp.bumpVersion()
      assert.equal(sdp.origin.sessionVersion, '9007199254740994')
    })
  })

  describe('errors', () => {
    const ok =
      'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 1000 RTP/AVP 0\r\n'
    const cases: [string, string, string][] = [
      ['empty body', '', SdpErrorCode.missing],
      ['no v= first', ok.replace('v=0\r\n', ''), SdpErrorCode.missing],
      ['version 1', ok.replace('v=0', 'v=1'), SdpErrorCode.syntax],
      ['no o=', ok.replace('o=- 1 1 IN IP4 1.2.3.4\r\n', ''), SdpErrorCode.missing],
      ['short o=', ok.replace('o=- 1 1 IN IP4 1.2.3.4', 'o=- 1 IN IP4 1.2.3.4'), SdpErrorCode.syntax],
      ['no s=', ok.replace('s=-\r\n', ''), SdpErrorCode.missing],
      ['no t=', ok.replace('t=0 0\r\n', ''), SdpErrorCode.missing],
      ['no c= anywhere', ok.replace('c=IN IP4 1.2.3.4\r\n', ''), SdpErrorCode.missing],
      ['bad c=', ok.replace('c=IN IP4 1.2.3.4', 'c=IN IP4'), SdpErrorCode.syntax],
      ['bad m= port', ok.replace('audio 1000', 'audio 70000'), SdpErrorCode.syntax],
      ['bad m= shape', ok.replace('m=audio 1000 RTP/AVP 0', 'm=audio x RTP/AVP 0'), SdpErrorCode.syntax],
      ['garbage line', `${ok}hello\r\n`, SdpErrorCode.syntax],
      ['upper-case type', `${ok}A=foo\r\n`, SdpErrorCode.syntax],
      ['blank line inside', ok.replace('s=-\r\n', 's=-\r\n\r\n'), SdpErrorCode.syntax],
      ['too large', `${ok}a=x:${'y'.repeat(70_000)}\r\n`, SdpErrorCode.limit],
    ]
    for (const [name, text, code] of cases) {
      it(`rejects ${name} with ${code}`, () => {
        assert.throws(
          () => SessionDescription.parse(text),
          (e: unknown) => e instanceof SdpError && e.code === code,
        )
      })
    }

    it('rejects malformed attributes when they are read', () => {
      const sdp = SessionDescription.parse(
        `${ok}a=rtpmap:0 PCMU\r\na=candidate:1 1 udp x 1.2.3.4 5 typ host\r\n`,
      )
      assert.throws(
        () => rtpMaps(media0(sdp)),
        (e: unknown) => e instanceof SdpError && e.code === SdpErrorCode.syntax,
      )
      assert.throws(
        () => parseCandidate(media0(sdp).attribute('candidate') ?? ''),
        (e: unknown) => e instanceof SdpError && e.code === SdpErrorCode.syntax,
      )
    })

    it('reports no common codec with SBC_ERR_SDP_NO_CODEC (for a 488)', () => {
      const sdp = SessionDescription.parse(ok)
      assert.throws(
        () => filterCodecs(media0(sdp), [{ name: 'opus', clockRate: 48000, channels: 2 }]),
        (e: unknown) => e instanceof SdpError && e.code === SdpErrorCode.noCodec,
      )
    })

    it('rejects bad rewrite arguments with SBC_ERR_SDP_INVALID_ARGUMENT', () => {
      const sdp = SessionDescription.parse(ok)
      for (const f of [
        () => setMediaEndpoint(media0(sdp), 'not-an-ip', 1000),
        () => setMediaEndpoint(media0(sdp), '1.2.3.4', 65536),
        () => setPtime(media0(sdp), 0),
        () => setProto(media0(sdp), 'RTP AVP'),
      ]) {
        assert.throws(f, (e: unknown) => e instanceof SdpError && e.code === SdpErrorCode.invalidArgument)
      }
    })
  })
})
