import assert from 'node:assert/strict'
import fc from 'fast-check'
import { fcParams } from '../../test/harness/fast-check.ts'
import { arbSdp, CORPUS_NAMES, joinSdp, SDP_CORPUS } from '../../test/harness/sdp-fuzz.ts'
import {
  candidates,
  cryptos,
  direction,
  effectiveDirection,
  fmtp,
  iceCredentials,
  numericAttribute,
  rtcp,
  rtpMaps,
  ssrcs,
} from './attributes.ts'
import { SdpError } from './errors.ts'
import { removeIce, setCryptos, setMediaEndpoint, setProto, setRtcpMux } from './rewrite.ts'
import { type SdpLines, SessionDescription } from './session-description.ts'

/*
 * The SDP parser the media pod runs on every offer and answer, against the corpus of test/harness/
 * sdp-fuzz.ts and random mutations of it: a body parses or throws SdpError, nothing else; what parses
 * serialises back byte for byte while unedited; every attribute reader answers a value or SdpError;
 * and a body after the media pod's kind of edits is canonical SDP that parses again to itself.
 */

/** Runs `fn`; an SdpError is an answer, anything else fails the property. */
function typed<T>(what: string, fn: () => T): T | undefined {
  try {
    return fn()
  } catch (e) {
    if (e instanceof SdpError) return undefined
    assert.fail(`${what} threw ${String(e)}`)
  }
}

/** Reads everything the media pod reads from a part. */
function readAll(sdp: SessionDescription, part: SdpLines): void {
  typed('rtpMaps', () => rtpMaps(part, 'formats' in part ? (part.formats as string[]) : []))
  typed('cryptos', () => cryptos(part))
  typed('candidates', () => candidates(part))
  typed('ssrcs', () => ssrcs(part))
  typed('rtcp', () => rtcp(part))
  typed('ptime', () => numericAttribute(part, 'ptime'))
  typed('maxptime', () => numericAttribute(part, 'maxptime'))
  typed('fmtp', () => fmtp(part, 96))
  typed('direction', () => direction(part))
  typed('effectiveDirection', () => effectiveDirection(sdp, part))
  typed('iceCredentials', () => iceCredentials(part))
  typed('connection', () => part.connection)
}

describe('SessionDescription properties', () => {
  it('parses every corpus body, with every line ending', () => {
    for (const name of CORPUS_NAMES)
      for (const eol of ['crlf', 'lf', 'mixed', 'crlf-no-final', 'crlf-extra-blank'] as const) {
        const text = joinSdp(SDP_CORPUS[name] as string[], eol)
        const sdp = SessionDescription.parse(text)
        assert.equal(sdp.toString(), text, `${name} (${eol}) does not round-trip`)
      }
  })

  it('parses a mutated body or throws SdpError; readers too; an unedited body round-trips', () => {
    fc.assert(
      fc.property(arbSdp(5), ({ text }) => {
        const sdp = typed('parse', () => SessionDescription.parse(text))
        if (!sdp) return
        assert.equal(sdp.toString(), text)
        assert.equal(sdp.modified, false)
        typed('origin', () => sdp.origin)
        readAll(sdp, sdp)
        for (const m of sdp.media) {
          readAll(sdp, m)
          assert.ok(Number.isInteger(m.port) && m.port >= 0 && m.port <= 65_535, `port ${m.port}`)
          assert.ok(m.portCount === undefined || m.portCount >= 1)
          typed('effectiveConnection', () => sdp.effectiveConnection(m))
        }
        assert.equal(sdp.toString(), text, 'reading changed the body')
      }),
      fcParams(1500),
    )
  })

  it("after the media pod's edits, serialises canonically and parses again to the same text", () => {
    fc.assert(
      fc.property(
        arbSdp(5),
        fc.constantFrom('127.0.0.1', '::1'),
        fc.nat({ max: 65_535 }),
        ({ text }, addr, port) => {
          const sdp = typed('parse', () => SessionDescription.parse(text))
          if (!sdp) return
          for (const m of sdp.media) {
            typed('setProto', () => setProto(m, m.proto.includes('SAVP') ? 'RTP/AVP' : 'RTP/SAVP'))
            setMediaEndpoint(m, addr, port, m.port % 2 === 0 ? { mux: true } : { mux: false, port: 1 })
            setRtcpMux(m, m.port % 3 === 0)
            setCryptos(m, [])
          }
          removeIce(sdp)
          typed('bumpVersion', () => sdp.bumpVersion())
          sdp.setConnection(addr)
          const out = sdp.toString()
          assert.ok(out.endsWith('\r\n') && !out.includes('\r\n\r\n'), 'not canonical CRLF lines')
          const again = SessionDescription.parse(out)
          assert.equal(again.toString(), out)
          assert.equal(again.media.length, sdp.media.length)
        },
      ),
      fcParams(800),
    )
  })
})
