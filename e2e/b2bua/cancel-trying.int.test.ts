import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest } from '../../lib/sip/message/message.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * A caller's CANCEL while the callee has answered the B leg INVITE with 100 Trying only. RFC 3261
 * §9.1: a CANCEL may be sent once "a provisional response" has arrived, and 100 is one; a callee that
 * takes its time before ringing (a carrier routing the number) must get the CANCEL then, not only
 * once it sends a 18x. Caller and callee are bare UDP sockets of this test, so the callee sends
 * nothing but what the test says.
 */
describe('B2BUA: CANCEL after the callee sent only 100 Trying', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const ruri = 'sip:callee@127.0.0.1'

  it('relays the CANCEL at once, and the caller gets its 487', async () => {
    const callId = `${randomBytes(6).toString('hex')}@cancel-trying.test`
    const fromTag = randomBytes(4).toString('hex')
    const branch = newBranch()
    const req = (method: string) =>
      sipRequest({ method, ruri, port: t.uacPort, branch, fromTag, to: `<${ruri}>`, callId, cseq: 1 })
    const invites = () => t.callee.all(request('INVITE'))
    const earlier = invites().length
    await t.caller.send(req('INVITE'), t.a.ports.pbx)
    await until('the B leg INVITE', async () => invites().length > earlier)
    const inv = invites()[earlier] as { msg: SipRequest; port: number }
    const bCallId = inv.msg.callId
    // 100 Trying without a To tag, as a proxy or UAS sends it before it knows more.
    await t.callee.send(
      sipResponse(inv.msg, 100, 'Trying', 'unused', t.uasPort).replace(/^(To:.*);tag=unused$/m, '$1'),
      inv.port,
    )
    await new Promise((r) => setTimeout(r, 200))
    await t.caller.send(req('CANCEL'), t.a.ports.pbx)
    await t.caller.waitFor(response(200, callId, 'CANCEL'), '200 to the CANCEL')
    const cancel = (
      await t.callee.waitFor((m) => request('CANCEL')(m) && m.callId === bCallId, 'the CANCEL at the callee')
    ).msg as SipRequest
    // RFC 3261 §9.1: the CANCEL names the INVITE's transaction (its top Via).
    assert.equal(cancel.header('via'), inv.msg.header('via'))
    await t.callee.send(sipResponse(cancel, 200, 'OK', 'callee1', t.uasPort), inv.port)
    await t.callee.send(sipResponse(inv.msg, 487, 'Request Terminated', 'callee1', t.uasPort), inv.port)
    await t.caller.waitFor(response(487, callId), '487 at the caller')
  })
})
