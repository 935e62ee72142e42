import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { getParam } from '../../lib/sip/message/headers/params.ts'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * The re-INVITE transactions the B2BUA relays in an established call (RFC 3261 §14, §13.2.2.4).
 * Two `kube-sbc run --redis` processes on one redis-server; caller and callee are bare UDP sockets
 * of the test, so each message on the wire is one the test or an SBC sent, in the order the test
 * chose: a 2xx the callee sends again as if the ACK had been lost, an ACK arriving after the next
 * re-INVITE.
 */
describe('B2BUA: relayed re-INVITEs', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const ruri = 'sip:callee@127.0.0.1'

  /** An answered and ACKed call through process A; what the test needs to send in-dialog requests. */
  async function answeredCall() {
    const callId = `${randomBytes(6).toString('hex')}@reinvite.test`
    const fromTag = randomBytes(4).toString('hex')
    let to = `<${ruri}>`
    let target = ruri
    const fromCaller = (method: string, cseq: number, branch = newBranch()) =>
      sipRequest({ method, ruri: target, port: t.uacPort, branch, fromTag, to, callId, cseq })
    const earlier = t.callee.all(request('INVITE')).length
    await t.caller.send(fromCaller('INVITE', 1), t.a.ports.pbx)
    await until('the B leg INVITE', async () => t.callee.all(request('INVITE')).length > earlier)
    const inv = t.callee.all(request('INVITE'))[earlier] as { msg: SipRequest; port: number }
    const bCallId = inv.msg.callId ?? ''
    await t.callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', t.uasPort), inv.port)
    const ok = (await t.caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    to = ok.header('to') ?? ''
    target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await t.caller.send(fromCaller('ACK', 1), t.a.ports.pbx)
    await t.callee.waitFor((m) => request('ACK', bCallId)(m), 'the ACK at the callee')
    /** The re-INVITE (CSeq above 1) the callee got, the `n`th (from 0). */
    const reinviteAtCallee = async (n: number) => {
      await until(`re-INVITE ${n} at the callee`, async () => reinvites().length > n)
      return reinvites()[n] as { msg: SipRequest; port: number }
    }
    const reinvites = () => t.callee.all((m) => request('INVITE', bCallId)(m) && m.cseq?.seq !== 1)
    const acksAtCallee = (seq: number | undefined) =>
      t.callee.all((m) => request('ACK', bCallId)(m) && m.cseq?.seq === seq).map((r) => r.msg as SipRequest)
    // The callee's requests, to the Contact the SBC gave it on leg B.
    const sbcB = /<([^>]+)>/.exec(inv.msg.header('contact') ?? '')?.[1] ?? ''
    const fromCallee = (method: string, cseq: number, branch = newBranch()) =>
      [
        `${method} ${sbcB} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${t.uasPort};branch=${branch};rport`,
        'Max-Forwards: 70',
        `From: ${inv.msg.header('to')};tag=callee1`,
        `To: ${inv.msg.header('from')}`,
        `Call-ID: ${bCallId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <sip:callee@127.0.0.1:${t.uasPort}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n')
    return { callId, bCallId, fromCaller, fromCallee, reinviteAtCallee, acksAtCallee }
  }

  const branchOf = (m: SipRequest) => (m.topVia ? getParam(m.topVia.params, 'branch') : undefined)

  it('a 2xx the callee sends again after the ACK was relayed gets that ACK again (RFC 3261 §13.2.2.4)', async () => {
    const c = await answeredCall()
    await t.caller.send(c.fromCaller('INVITE', 2), t.a.ports.pbx)
    const re = await c.reinviteAtCallee(0)
    const ok = sipResponse(re.msg, 200, 'OK', 'callee1', t.uasPort)
    await t.callee.send(ok, re.port)
    await t.caller.waitFor((m) => response(200, c.callId)(m) && m.cseq?.seq === 2, '200 to the re-INVITE')
    await t.caller.send(c.fromCaller('ACK', 2), t.a.ports.pbx)
    await until('the ACK of the re-INVITE', async () => c.acksAtCallee(re.msg.cseq?.seq).length === 1)
    // The callee did not get it (as far as it knows): its 2xx again, twice.
    for (let i = 2; i <= 3; i++) {
      await t.callee.send(ok, re.port)
      await until(`ACK ${i} of the re-INVITE`, async () => c.acksAtCallee(re.msg.cseq?.seq).length === i)
    }
    const [first, ...again] = c.acksAtCallee(re.msg.cseq?.seq)
    for (const a of again) assert.equal(branchOf(a), branchOf(first!), 'the same ACK, sent again')
    assert.equal(
      t.caller.all((m) => request('ACK')(m)).length,
      0,
      'the caller is not asked for anything (its ACK was relayed)',
    )
  })

  it("an ACK arriving after the caller's next re-INVITE keeps the CSeq of the re-INVITE it acknowledges", async () => {
    const c = await answeredCall()
    await t.caller.send(c.fromCaller('INVITE', 2), t.a.ports.pbx)
    const re2 = await c.reinviteAtCallee(0)
    await t.callee.send(sipResponse(re2.msg, 200, 'OK', 'callee1', t.uasPort), re2.port)
    await t.caller.waitFor((m) => response(200, c.callId)(m) && m.cseq?.seq === 2, '200 to re-INVITE 2')
    // The caller's ACK is late (lost, then sent again on the 2xx retransmission); its next
    // re-INVITE, sent once it had the 2xx (RFC 3261 §14.1), reaches the SBC first.
    await t.caller.send(c.fromCaller('INVITE', 3), t.a.ports.pbx)
    const re3 = await c.reinviteAtCallee(1)
    await t.caller.send(c.fromCaller('ACK', 2), t.a.ports.pbx)
    await until(
      'the ACK at the callee',
      async () => t.callee.all((m) => request('ACK', c.bCallId)(m) && m.cseq?.seq !== 1).length > 0,
    )
    const ack = t.callee.all((m) => request('ACK', c.bCallId)(m) && m.cseq?.seq !== 1)[0]!.msg
    assert.equal(ack.cseq?.seq, re2.msg.cseq?.seq, 'the CSeq of the re-INVITE whose 2xx it acknowledges')
    assert.notEqual(re3.msg.cseq?.seq, re2.msg.cseq?.seq)
  })

  for (const first of ['180 Ringing', '100 Trying'] as const)
    it(`a CANCEL of the caller's re-INVITE goes on to the callee once it sent ${first}; its 487 reaches the caller and the call stays up`, async () => {
      const c = await answeredCall()
      const branch = newBranch()
      await t.caller.send(c.fromCaller('INVITE', 2, branch), t.a.ports.pbx)
      const re = await c.reinviteAtCallee(0)
      await t.caller.waitFor((m) => response(100, c.callId)(m) && m.cseq?.seq === 2, '100 to the re-INVITE')
      if (first === '100 Trying') {
        // The callee has sent nothing yet: the CANCEL must wait for its provisional (RFC 3261 §9.1).
        await t.caller.send(c.fromCaller('CANCEL', 2, branch), t.a.ports.pbx)
        await t.caller.waitFor(response(200, c.callId, 'CANCEL'), '200 to the CANCEL')
        await new Promise((r) => setTimeout(r, 300))
        assert.equal(t.callee.all(request('CANCEL', c.bCallId)).length, 0, 'no CANCEL before a provisional')
        await t.callee.send(sipResponse(re.msg, 100, 'Trying', 'callee1', t.uasPort), re.port)
      } else {
        await t.callee.send(sipResponse(re.msg, 180, 'Ringing', 'callee1', t.uasPort), re.port)
        await t.caller.waitFor((m) => response(180, c.callId)(m) && m.cseq?.seq === 2, '180 to the re-INVITE')
        await t.caller.send(c.fromCaller('CANCEL', 2, branch), t.a.ports.pbx)
        await t.caller.waitFor(response(200, c.callId, 'CANCEL'), '200 to the CANCEL')
      }
      const cancel = (await t.callee.waitFor(request('CANCEL', c.bCallId), 'the CANCEL at the callee'))
        .msg as SipRequest
      assert.equal(branchOf(cancel), branchOf(re.msg), 'the CANCEL names the re-INVITE (same branch)')
      assert.equal(cancel.cseq?.seq, re.msg.cseq?.seq)
      assert.equal(cancel.header('to'), re.msg.header('to'))
      const cancelled = t.callee.received.find((r) => r.msg === cancel)!
      await t.callee.send(sipResponse(cancel, 200, 'OK', 'callee1', t.uasPort), cancelled.port)
      await t.callee.send(sipResponse(re.msg, 487, 'Request Terminated', 'callee1', t.uasPort), re.port)
      await t.caller.waitFor((m) => response(487, c.callId)(m) && m.cseq?.seq === 2, '487 to the re-INVITE')
      await t.callee.waitFor(
        (m) => request('ACK', c.bCallId)(m) && m.cseq?.seq === re.msg.cseq?.seq,
        'the ACK of the 487 at the callee',
      )
      // The call is still up: a BYE ends it.
      await t.caller.send(c.fromCaller('BYE', 3), t.a.ports.pbx)
      const bye = await t.callee.waitFor(request('BYE', c.bCallId), 'the BYE at the callee')
      await t.callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), bye.port)
      await t.caller.waitFor(response(200, c.callId, 'BYE'), '200 to the BYE')
      await until('the call gone from Redis', async () =>
        (await t.store.keys()).every((k) => !k.includes(c.callId) && !k.includes(c.bCallId)),
      )
    })

  it("a CANCEL of the callee's re-INVITE through the other process: 200, nothing recorded in Redis", async () => {
    const c = await answeredCall()
    const branch = newBranch()
    await t.callee.send(c.fromCallee('INVITE', 1, branch), t.a.ports.carrier)
    await t.caller.waitFor(
      (m) => request('INVITE', c.callId)(m) && m.cseq?.method === 'INVITE',
      're-INVITE at the caller',
    )
    await t.callee.send(c.fromCallee('CANCEL', 1, branch), t.b.ports.carrier)
    await t.callee.waitFor(response(200, c.bCallId, 'CANCEL'), '200 to the CANCEL')
    // Before, B took it for the CANCEL of an INVITE not stored yet and wrote a mark (32 s).
    assert.deepEqual(
      (await t.store.keys()).filter((k) => k.includes(':k:')),
      [],
      'no CANCEL mark',
    )
  })
})
