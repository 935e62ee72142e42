import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * The caller's INVITE came through proxies that record-routed (RFC 3261 §16.6 step 4). As the UAS
 * of leg A the SBC takes its route set from that Record-Route (§12.1.1) and must copy it into the
 * responses that create the caller's dialog, the 18x with a To tag and the 2xx, in order: the
 * caller builds its own route set from them (§12.1.2), so its ACK and BYE pass the same proxies.
 * Caller and callee are bare UDP sockets of the test; the proxies are only names in the headers.
 */
describe('B2BUA: Record-Route of the caller side in the 18x and 2xx (RFC 3261 §12.1.1)', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const ruri = 'sip:callee@127.0.0.1'

  it('the 180 and the 200 carry the INVITE Record-Route values in order; the callee never sees them', async () => {
    const callId = `${randomBytes(6).toString('hex')}@rr.test`
    const fromTag = randomBytes(4).toString('hex')
    const rr = ['<sip:p1.example.net;lr;ftag=x1>', '<sip:p2.example.net;lr>', '<sip:p3.example.net;lr>']
    const invite = sipRequest({
      method: 'INVITE',
      ruri,
      port: t.uacPort,
      branch: newBranch(),
      fromTag,
      to: `<${ruri}>`,
      callId,
      cseq: 1,
    }).replace(
      'Max-Forwards: 70',
      `Max-Forwards: 70\r\nRecord-Route: ${rr[0]}, ${rr[1]}\r\nRecord-Route: ${rr[2]}`,
    )
    await t.caller.send(invite, t.a.ports.pbx)
    const inv = await t.callee.waitFor(request('INVITE'), 'the INVITE at the callee')
    assert.deepEqual(inv.msg.headerValues('record-route'), [], "the caller's proxies stay on its side")
    await t.callee.send(sipResponse(inv.msg as SipRequest, 180, 'Ringing', 'callee1', t.uasPort), inv.port)
    await t.callee.send(sipResponse(inv.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), inv.port)
    const routes = (m: SipResponse | SipRequest, h: string) =>
      m.headerValues(h).flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim()))
    for (const status of [180, 200]) {
      const res = (await t.caller.waitFor(response(status, callId), `${status} at the caller`)).msg
      assert.deepEqual(routes(res, 'record-route'), rr, `Record-Route of the ${status}`)
    }
    // The callee hangs up: the BYE toward the caller takes the same proxies (its Route).
    const ok = (await t.caller.waitFor(response(200, callId), '200')).msg as SipResponse
    const to = ok.header('to') ?? ''
    const target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await t.caller.send(
      sipRequest({
        method: 'ACK',
        ruri: target,
        port: t.uacPort,
        branch: newBranch(),
        fromTag,
        to,
        callId,
        cseq: 1,
      }),
      t.a.ports.pbx,
    )
    await t.callee.waitFor(request('ACK', inv.msg.callId), 'the ACK at the callee')
    const bye = [
      `BYE ${/<([^>]+)>/.exec(inv.msg.header('contact') ?? '')?.[1]} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${t.uasPort};branch=${newBranch()};rport`,
      'Max-Forwards: 70',
      `From: ${inv.msg.header('to')};tag=callee1`,
      `To: ${inv.msg.header('from')}`,
      `Call-ID: ${inv.msg.callId}`,
      'CSeq: 2 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n')
    await t.callee.send(bye, t.a.ports.carrier)
    const atCaller = await t.caller.waitFor(request('BYE', callId), 'the BYE at the caller')
    assert.deepEqual(routes(atCaller.msg, 'route'), rr, 'Route of the BYE toward the caller')
    await t.caller.send(sipResponse(atCaller.msg as SipRequest, 200, 'OK', fromTag, t.uacPort), atCaller.port)
    await t.callee.waitFor(response(200, inv.msg.callId, 'BYE'), '200 to the BYE')
    await until('no keys left', async () => (await t.store.keys()).length === 0)
  })
})
