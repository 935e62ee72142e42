import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import type { MediaHook } from '../../signalling-pod/src/b2bua/b2bua.ts'
import { type InProcessB2bua, startInProcessB2bua } from './in-process-b2bua.ts'
import { until } from './two-processes.ts'
import { newInvite, request, response } from './udp-peer.ts'

/**
 * An unexpected error once the INVITE was accepted and its call stored: the caller gets one 500 and
 * the call ends (one CDR by sbc, error; no key or admission slot left in Redis). Before, the 500 went
 * out from the request's catch-all and the call stayed pending in the process for good, written
 * again every 100 s, with no Timer C and no CDR. No natural trigger remains (every expected refusal
 * is handled where it happens), so the error is forced through a seam: a media hook whose offer
 * throws a plain Error instead of a MediaAnchorError. The B2BUA runs in this process on a real
 * redis-server; caller and callee are bare UDP sockets.
 */
describe('B2BUA: an unexpected error after the call was accepted', function () {
  this.timeout(30_000)
  let b2bua: InProcessB2bua | undefined
  const cdrs: string[] = []
  const registry = createMetricsRegistry()
  const failingMedia: MediaHook = {
    offer: async () => {
      throw new TypeError('a bug in the media step (test seam)')
    },
    answer: async (_c, _f, sdp) => sdp,
    release: async () => {},
  }

  before(async () => {
    b2bua = await startInProcessB2bua({ name: 'accepterr', cdrs, registry, server: { media: failingMedia } })
  })
  after(() => b2bua?.close())

  it('500 to the caller, one CDR (by sbc, error), nothing left in Redis, no INVITE to the callee', async () => {
    const { caller, callee, uacPort } = b2bua!.peers
    const ruri = 'sip:callee@127.0.0.1'
    const callId = `${randomBytes(6).toString('hex')}@accepterr.test`
    const sdp =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'
    const invite = newInvite({ ruri, port: uacPort, callId }).replace(
      'Content-Length: 0\r\n\r\n',
      `Content-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
    )
    await caller.send(invite, b2bua!.ports.pbx)
    await caller.waitFor(response(500, callId), '500 at the caller')
    const lines = () =>
      cdrs
        .join('')
        .split('\n')
        .filter((l) => l.includes(callId))
        .map((l) => JSON.parse(l) as { finalCode: number; hangup: { by: string; reason: string } })
    await until('the CDR', async () => lines().length === 1)
    await until('nothing left in Redis', async () => (await b2bua!.store.keys()).length === 0)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(lines().length, 1, 'one CDR')
    assert.equal(lines()[0]?.hangup.by, 'sbc')
    assert.equal(lines()[0]?.hangup.reason, 'error')
    assert.equal(lines()[0]?.finalCode, 500)
    assert.equal(caller.all(response(500, callId)).length, 1, 'one 500')
    assert.equal(callee.all(request('INVITE', callId)).length, 0, 'no INVITE to the callee')
    assert.match(
      await registry.metrics(),
      /sbc_calls_failed_total\{[^}]*direction="inbound"[^}]*code="500"[^}]*\} 1/,
    )
  })
})
