import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * The 2xx to a re-INVITE is a target refresh (RFC 3261 §12.2.1.2): its Contact becomes the remote
 * target of that leg, in the stored dialog state, so the ACK and every later request of the leg —
 * through any process — carry it as Request-URI. Two `kube-sbc run --redis` processes on one
 * redis-server, caller and callee bare UDP sockets of the test; each peer answers a re-INVITE with
 * a new Contact user, and the next requests toward it (ACK through the other process, BYE) must
 * name that user.
 */
describe('B2BUA: the 2xx of a relayed re-INVITE refreshes the remote target (two processes)', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()

  /** `res` with its Contact user replaced by `user`. */
  const withContact = (res: string, user: string) =>
    res.replace(/Contact: <sip:[^@]+@/, `Contact: <sip:${user}@`)
  const ruriUser = (m: SipRequest) => (m.uri.kind === 'sip' ? m.uri.user : undefined)

  it('re-INVITEs both ways answered with a new Contact: the ACK and the BYE go to it', async () => {
    const callId = `${randomBytes(6).toString('hex')}@refresh.test`
    const fromTag = randomBytes(4).toString('hex')
    const ruri = 'sip:callee@127.0.0.1'
    const fromCaller = (method: string, cseq: number, to: string, target: string) =>
      sipRequest({ method, ruri: target, port: t.uacPort, branch: newBranch(), fromTag, to, callId, cseq })

    // The call: INVITE and ACK through A.
    await t.caller.send(fromCaller('INVITE', 1, `<${ruri}>`, ruri), t.a.ports.pbx)
    const bInv = (await t.callee.waitFor(request('INVITE'), 'the INVITE at the callee')).msg as SipRequest
    const bCallId = bInv.callId ?? ''
    const bPort = t.callee.received.find((r) => r.msg === bInv)?.port ?? 0
    await t.callee.send(sipResponse(bInv, 200, 'OK', 'callee1', t.uasPort), bPort)
    const ok = (await t.caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    const to = ok.header('to') ?? ''
    const sbcA = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await t.caller.send(fromCaller('ACK', 1, to, sbcA), t.a.ports.pbx)
    await t.callee.waitFor((m) => request('ACK', bCallId)(m), 'the ACK at the callee')

    // The caller's re-INVITE through A; the callee answers with a new Contact.
    await t.caller.send(fromCaller('INVITE', 2, to, sbcA), t.a.ports.pbx)
    const reB = await t.callee.waitFor(
      (m) => request('INVITE', bCallId)(m) && m.header('to')?.includes('tag=') === true,
      'the re-INVITE at the callee',
    )
    await t.callee.send(
      withContact(sipResponse(reB.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), 'moved'),
      reB.port,
    )
    await t.caller.waitFor((m) => response(200, callId)(m) && m.cseq?.seq === 2, '200 to the re-INVITE')
    // Its ACK through the other process, which knows the callee only from the store.
    await t.caller.send(fromCaller('ACK', 2, to, sbcA), t.b.ports.pbx)
    const ack2 = await t.callee.waitFor(
      (m) => request('ACK', bCallId)(m) && m.cseq?.seq !== 1,
      'the ACK of the re-INVITE at the callee',
    )
    assert.equal(ruriUser(ack2.msg as SipRequest), 'moved', 'ACK to the Contact of the re-INVITE 2xx')

    // The callee's re-INVITE through B; the caller answers with a new Contact.
    const sbcB = /<([^>]+)>/.exec(bInv.header('contact') ?? '')?.[1] ?? ''
    const fromCallee = (method: string, cseq: number) =>
      [
        `${method} ${sbcB} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${t.uasPort};branch=${newBranch()};rport`,
        'Max-Forwards: 70',
        `From: ${reB.msg.header('to')}`,
        `To: ${bInv.header('from')}`,
        `Call-ID: ${bCallId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <sip:moved@127.0.0.1:${t.uasPort}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n')
    await t.callee.send(fromCallee('INVITE', 1), t.b.ports.carrier)
    const reA = await t.caller.waitFor(
      (m) => request('INVITE', callId)(m) && m.header('to')?.includes('tag=') === true,
      'the re-INVITE at the caller',
    )
    await t.caller.send(
      withContact(sipResponse(reA.msg as SipRequest, 200, 'OK', fromTag, t.uacPort), 'caller-moved'),
      reA.port,
    )
    await t.callee.waitFor(response(200, bCallId), '200 to the callee re-INVITE')
    await t.callee.send(fromCallee('ACK', 1), t.a.ports.carrier)
    const ackA = await t.caller.waitFor(
      (m) => request('ACK', callId)(m),
      'the ACK of the re-INVITE at the caller',
    )
    assert.equal(ruriUser(ackA.msg as SipRequest), 'caller-moved', 'ACK to the Contact of the caller 2xx')

    // The caller hangs up through B: the BYE reaches the callee's new Contact.
    await t.caller.send(fromCaller('BYE', 3, to, sbcA), t.b.ports.pbx)
    const bye = await t.callee.waitFor((m) => request('BYE', bCallId)(m), 'the BYE at the callee')
    assert.equal(ruriUser(bye.msg as SipRequest), 'moved', 'BYE to the refreshed target')
    await t.callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), bye.port)
    await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
    await until('no keys left', async () => (await t.store.keys()).length === 0)
  })
})
