import assert from 'node:assert/strict'
import type { DialogLeg } from '../../../lib/sip/dialog/dialog-state.ts'
import { testCall } from '../../../lib/state/test-call.ts'
import {
  nextSdpVersion,
  ownVersionToward,
  sdpVersionOf,
  versionToward,
  withSdpVersion,
} from './sdp-version.ts'

const sdp = (version: string) =>
  Buffer.from(
    `v=0\r\no=alice 2890844526 ${version} IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n`,
  )

describe('sdp-version', () => {
  it('reads and sets the o= session version, beyond 2^53 too', () => {
    assert.equal(sdpVersionOf(sdp('7')), '7')
    assert.equal(sdpVersionOf(Buffer.from('v=0\r\ns=-\r\n')), undefined)
    assert.equal(nextSdpVersion('18446744073709551614'), '18446744073709551615')
    const set = withSdpVersion(sdp('7'), '12').toString()
    assert.match(set, /^o=alice 2890844526 12 IN IP4 192\.0\.2\.1\r$/m)
    assert.match(set, /^m=audio 49170 RTP\/AVP 0\r$/m)
    assert.equal(withSdpVersion(sdp('7'), undefined).toString(), sdp('7').toString())
  })

  it('toward a leg: the stored version plus one, else the SDP own version', () => {
    const leg: DialogLeg = testCall('c1').b
    assert.equal(versionToward(leg, sdp('7')), '7')
    assert.equal(versionToward({ ...leg, sdpVersion: '3' }, sdp('7')), '4')
    assert.equal(versionToward(leg, Buffer.from('v=0\r\n')), undefined)
  })

  it("the SBC's own SDP: the stored version plus one, else the peer's plus one", () => {
    const leg: DialogLeg = testCall('c1').b
    assert.equal(ownVersionToward(leg, sdp('7')), '8')
    assert.equal(ownVersionToward({ ...leg, sdpVersion: '3' }, sdp('7')), '4')
    assert.equal(ownVersionToward(leg, Buffer.from('v=0\r\n')), undefined)
  })
})
